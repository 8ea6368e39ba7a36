"""What one product becomes in the index: the fields, and a row as a document.

Text is searched through the ``shop`` analyzer, names and descriptions also in each
indexed language through its stemming analyzer (``languages``); brand, category,
attributes, options
and variant terms are kept whole (``raw``) for filters and facets; prices, stock and
the sort keys are fast fields. Products with options also carry their variant terms
(``variant_terms``) and price bounds (``variant_prices``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
import tantivy

from shopwindow.gateway.search import languages
from shopwindow.gateway.search import tantivy_query as tq
from shopwindow.gateway.search import variant_prices as vp
from shopwindow.gateway.search.rows import IndexRow
from shopwindow.gateway.search.variant_terms import VALUE_MARK, variant_terms


def schema(segment_slots: int, indexed_languages: Sequence[str] = ()) -> tantivy.Schema:
    """The index's fields, with ``segment_slots`` fields for segment prices and the
    translated fields of each of ``indexed_languages``."""
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", fast=True)
    for field, _ in tq.TEXT_FIELDS:
        builder.add_text_field(field, tokenizer_name="shop")
    for language in indexed_languages:
        for field in languages.TRANSLATED:
            tokenizer = languages.tokenizer_of(language)
            builder.add_text_field(languages.field_of(field, language), tokenizer_name=tokenizer)
    for field in ("brand", "category", "attribute", "option_name", "option", "variant"):
        builder.add_text_field(field, tokenizer_name="raw", fast=True)
    builder.add_unsigned_field("ordinal", fast=True, indexed=True)
    builder.add_float_field("price", fast=True, indexed=True)
    for field in (vp.FLOOR, vp.CEILING):
        builder.add_float_field(field, fast=True, indexed=True)
    for slot in range(segment_slots):
        builder.add_float_field(tq.price_slot_field(slot), fast=True, indexed=True)
    builder.add_unsigned_field("in_stock", fast=True, indexed=True)
    builder.add_integer_field("listed", fast=True)
    builder.add_unsigned_field("units_sold", fast=True)
    builder.add_float_field("trending", fast=True, indexed=True)
    return builder.build()


def document(
    row: IndexRow,
    ordinal: int,
    slot_for: Callable[[str], int | None],
    indexed_languages: Sequence[str] = (),
) -> str:
    """The index document of ``row``, as JSON text; ``slot_for`` gives a segment's
    price field slot, if it has one."""
    # One JSON text per row: tantivy parses it in Rust, several times faster than a
    # Document built field by field from Python.
    doc: dict[str, Any] = {
        "id": row.id,
        "ordinal": ordinal,
        "name": row.name,
        "description": row.description,
        "in_stock": int(row.in_stock),
        "listed": row.listed_s,
        "units_sold": max(row.units_sold, 0),
        "trending": row.trending_score,
    }
    for language in indexed_languages:
        name, description = row.texts.get(language, (row.name, row.description))
        doc[languages.field_of("name", language)] = name
        doc[languages.field_of("description", language)] = description
    if row.brand is not None:
        doc["brand"] = doc["brand_text"] = row.brand
    if row.category is not None:
        doc["category"] = doc["category_text"] = row.category
    if row.attributes:
        doc["attribute"] = [f"{n}{tq.ATTRIBUTE_SEPARATOR}{v}" for n, v in row.attributes]
        doc["attribute_text"] = [value for _, value in row.attributes]
    if row.option_names:
        doc["option_name"] = list(row.option_names)
        doc["option"] = sorted(
            {
                f"{name}{VALUE_MARK}{variant.values[position]}"
                for position, name in enumerate(row.option_names)
                for variant in row.variants
            }
        )
        doc["variant"] = variant_terms(row.option_names, row.variants)
        doc |= vp.bounds(row)
    if row.price is not None:
        doc["price"] = row.price
    for segment, amount in row.segment_prices.items():
        slot = slot_for(segment)
        if slot is not None:
            doc[tq.price_slot_field(slot)] = amount
    return orjson.dumps(doc).decode()
