"""Search requests as tantivy queries: words matched across fields, filters as clauses.

No user text ever reaches tantivy's query parser: words are analyzed by the index's own
analyzer and become term, fuzzy and prefix queries, so query syntax in a search box is
just text.
"""

from __future__ import annotations

from collections.abc import Sequence

import tantivy

from shopwindow.gateway.search import languages
from shopwindow.gateway.search.engine import Filters, OptionFilter
from shopwindow.gateway.search.rows import money
from shopwindow.gateway.search.variant_terms import wanted_terms

# Searched text fields and their weights: name and brand first.
TEXT_FIELDS = (
    ("name", 3.0),
    ("brand_text", 3.0),
    ("category_text", 1.5),
    ("description", 1.0),
    ("attribute_text", 1.0),
)
SUGGEST_FIELDS = TEXT_FIELDS[:2]
# A word this long may have one typo; shorter ones are too easily something else.
TYPO_MIN_LETTERS = 5
ATTRIBUTE_SEPARATOR = "\x1f"
# Filter names, as facets exclude their own.
CATEGORY, BRANDS, PRICE, IN_STOCK, ATTRIBUTES, OPTIONS = (
    "category",
    "brands",
    "price",
    "in_stock",
    "attributes",
    "options",
)

_Should, _Must, _MustNot = tantivy.Occur.Should, tantivy.Occur.Must, tantivy.Occur.MustNot
Query = tantivy.Query


def words_query(
    schema: tantivy.Schema,
    words: Sequence[str],
    fields: Sequence[tuple[str, float]] = TEXT_FIELDS,
    language: str | None = None,
    stemmed: Sequence[str] = (),
) -> tantivy.Query:
    """Every word must match in some field; the last one may be a prefix (the user is
    still typing) and long words may have one typo. Exact matches score highest.

    Args:
        schema: The index's schema.
        words: The query's words, as the shared fields have them.
        fields: The fields searched, with their weights.
        language: The viewer's language, when it has fields of its own: the translated
            fields are searched in it (``languages.localized``).
        stemmed: The same words stemmed in ``language``, one for one.
    """
    if not words:
        return Query.all_query()
    searched = languages.localized(fields, language if len(stemmed) == len(words) else None)
    clauses = []
    for position, word in enumerate(words):
        last = position == len(words) - 1
        typo = 1 if len(word) >= TYPO_MIN_LETTERS else 0
        alternatives = []
        for field, weight, is_stemmed in searched:
            term = stemmed[position] if is_stemmed else word
            alternatives.append(
                Query.boost_query(Query.term_query(schema, field, term), weight * 2)
            )
            if typo:
                fuzzy = Query.fuzzy_term_query(schema, field, term, distance=typo)
                alternatives.append(Query.boost_query(fuzzy, weight * 0.5))
            if last:
                prefix = Query.fuzzy_term_query(schema, field, term, distance=typo, prefix=True)
                alternatives.append(Query.boost_query(prefix, weight * 0.5))
        clauses.append((_Must, Query.boolean_query([(_Should, q) for q in alternatives])))
    return Query.boolean_query(clauses)


def price_slot_field(slot: int) -> str:
    """The field of the segment prices in ``slot``."""
    return f"segment_price_{slot}"


def _range(schema: tantivy.Schema, field: str, filters: Filters) -> tantivy.Query:
    low = money(filters.price_min) if filters.price_min is not None else None
    high = money(filters.price_max) if filters.price_max is not None else None
    return Query.range_query(schema, field, tantivy.FieldType.Float, low, high)


def without_segment_price(query: tantivy.Query, slot: int | None) -> tantivy.Query:
    """``query`` restricted to products without a price in ``slot``."""
    if slot is None:
        return query
    lacking = Query.exists_query(price_slot_field(slot))
    return Query.boolean_query([(_Must, query), (_MustNot, lacking)])


def filter_clauses(
    schema: tantivy.Schema, filters: Filters, slot: int | None, fallback: bool = True
) -> dict[str, tantivy.Query]:
    """One clause per filter that is set, by filter name.

    With options filtered, the stock filter is part of the ``OPTIONS`` clause (it holds
    for the same variant), and the price filter is left to the caller: it applies to
    the cheapest matching variant, which only the kept variants can tell.

    Args:
        schema: The index's schema.
        filters: The request's filters.
        slot: The viewer's segment price field, if the segment has one: where a product
            has a price for the segment, the price filter applies to it.
        fallback: Whether a product without a price in ``slot`` is filtered by its
            base price; not for another market's prices, where it has none.
    """
    clauses: dict[str, tantivy.Query] = {}
    if filters.category is not None:
        clauses[CATEGORY] = Query.term_query(schema, "category", filters.category)
    if filters.brands:
        clauses[BRANDS] = Query.term_set_query(schema, "brand", list(filters.brands))
    priced = filters.price_min is not None or filters.price_max is not None
    if priced and not filters.options:
        base = _range(schema, "price", filters)
        if slot is None:
            clauses[PRICE] = base
        else:
            segment = _range(schema, price_slot_field(slot), filters)
            clauses[PRICE] = (
                Query.boolean_query(
                    [(_Should, segment), (_Should, without_segment_price(base, slot))]
                )
                if fallback
                else segment
            )
    if filters.options:
        clauses[OPTIONS] = variant_clause(schema, filters.options, filters.in_stock)
    elif filters.in_stock is not None:
        clauses[IN_STOCK] = Query.term_query(schema, "in_stock", int(filters.in_stock))
    if filters.attributes:
        clauses[ATTRIBUTES] = Query.boolean_query(
            [
                (
                    _Must,
                    Query.term_set_query(
                        schema,
                        "attribute",
                        [f"{a.name}{ATTRIBUTE_SEPARATOR}{v}" for v in a.values],
                    ),
                )
                for a in filters.attributes
            ]
        )
    return clauses


def variant_clause(
    schema: tantivy.Schema, options: tuple[OptionFilter, ...], in_stock: bool | None
) -> tantivy.Query:
    """Products with a variant that has a value of every option in ``options`` and, when
    ``in_stock`` is set, whose matching variants are in stock (``True``: one of them is;
    ``False``: none is)."""
    plain = Query.term_set_query(schema, "variant", wanted_terms(options, in_stock=False))
    if in_stock is None:
        return plain
    stocked = Query.term_set_query(schema, "variant", wanted_terms(options, in_stock=True))
    if in_stock:
        return stocked
    return Query.boolean_query([(_Must, plain), (_MustNot, stocked)])


def combined(text: tantivy.Query, clauses: dict[str, tantivy.Query], *, but: str = "") -> Query:
    """``text`` and every clause except the one named ``but``."""
    kept = [q for name, q in clauses.items() if name != but]
    if not kept:
        return text
    return Query.boolean_query([(_Must, text), *((_Must, q) for q in kept)])
