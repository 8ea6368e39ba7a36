"""Variants in the fold: listings checked at the door, prices and stock kept per SKU.

What identifies a variant is its SKU within its product; these tests hold the fold to
it with SKUs that need escaping, SKUs listed after their stock arrived, SKUs dropped
and listed again, and SKUs that two products share.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from shopwindow.document import escape_key
from shopwindow.materializer.decode import decode_record
from shopwindow.materializer.errors import PoisonEvent
from shopwindow.materializer.fold import FoldSettings, fold
from shopwindow.materializer.sources import catalog as catalog_source
from shopwindow.materializer.sources import prices as prices_source
from shopwindow.materializer.sources.variants import DEFAULT_VARIANT, MAX_VARIANTS, Variant
from shopwindow.sale_product import read_sale_product
from tests import kinds
from tests.helpers import encode
from tests.materializer.conftest import (
    SourcedFactory,
    catalog,
    delta,
    order,
    price,
    sizes,
    stock_take,
)

SETTINGS = FoldSettings(low_stock_threshold=2)
OPTIONS: list[dict[str, Any]] = [
    {"name": "size", "values": ["S", "M", "L"]},
    {"name": "color", "values": ["red", "blue"]},
]
SHIRT: dict[str, Any] = {
    "options": OPTIONS,
    "variants": [
        {"sku": "TS-M-RED", "options": {"size": "M", "color": "red"}},
        {"sku": "TS-L-BLUE", "options": {"size": "L", "color": "blue"}, "title": "Big blue"},
    ],
}


def variant(sku: str, size: str, color: str = "red") -> dict[str, Any]:
    return {"sku": sku, "options": {"size": size, "color": color}}


BAD_LISTINGS: list[tuple[str, dict[str, Any], str]] = [
    (
        "duplicate SKUs within a product",
        {**SHIRT, "variants": [variant("X", "S"), variant("X", "M")]},
        "duplicate SKU 'X'",
    ),
    (
        "an option the product does not declare",
        {**SHIRT, "variants": [{"sku": "X", "options": {"size": "S", "fit": "slim"}}]},
        "names option 'fit', which the product does not declare",
    ),
    (
        "a value the product does not list",
        {**SHIRT, "variants": [variant("X", "XXL")]},
        "has size 'XXL', which the product does not list",
    ),
    (
        "a variant without a value for every option",
        {**SHIRT, "variants": [{"sku": "X", "options": {"size": "S"}}]},
        "has no value for ['color']",
    ),
    (
        "two variants with the same options",
        {**SHIRT, "variants": [variant("X", "S"), variant("Y", "S")]},
        "repeats the options of another variant",
    ),
    ("an empty SKU", {**SHIRT, "variants": [variant("", "S")]}, "variants.0.sku"),
    ("a 10 KB SKU", {**SHIRT, "variants": [variant("x" * 10_240, "S")]}, "variants.0.sku"),
    ("a SKU of a lone surrogate", {**SHIRT, "variants": [variant("\ud800", "S")]}, "surrogate"),
    (
        "more than 2,048 variants",
        {
            "options": [{"name": "n", "values": [str(i) for i in range(MAX_VARIANTS + 1)]}],
            "variants": [
                {"sku": str(i), "options": {"n": str(i)}} for i in range(MAX_VARIANTS + 1)
            ],
        },
        f"at most {MAX_VARIANTS} items",
    ),
    (
        "option lists with duplicate names",
        {**SHIRT, "options": [*OPTIONS, {"name": "Size", "values": ["S"]}]},
        "duplicate option names",
    ),
    (
        "an option listing a value twice",
        {**SHIRT, "options": [{"name": "size", "values": ["S", "s"]}, OPTIONS[1]]},
        "lists a value twice",
    ),
    ("options without variants", {"options": OPTIONS}, "without variants"),
    (
        "more than three options",
        {
            "options": [{"name": n, "values": ["x"]} for n in "abcd"],
            "variants": [{"sku": "X", "options": dict.fromkeys("abcd", "x")}],
        },
        "at most 3 items",
    ),
    (
        "an option value with a control character",
        {**SHIRT, "options": [{"name": "size", "values": ["S\x1fM"]}, OPTIONS[1]]},
        "control characters",
    ),
    (
        "an option name with a control character",
        {**SHIRT, "options": [OPTIONS[0], {"name": "col\x00or", "values": ["red"]}]},
        "control characters",
    ),
]


@pytest.mark.parametrize(
    ("listing", "reason"), [c[1:] for c in BAD_LISTINGS], ids=[c[0] for c in BAD_LISTINGS]
)
def test_a_bad_listing_is_refused_with_its_reason(listing: dict[str, Any], reason: str) -> None:
    with pytest.raises(PoisonEvent) as refused:
        decode_record(kinds.CATALOG, b"abc", encode({**catalog(), **listing}))
    assert reason in str(refused.value)


def folded(sourced: SourcedFactory, *steps: tuple[Any, dict[str, Any] | None]) -> dict[str, Any]:
    doc: dict[str, Any] | None = None
    for kind, value in steps:
        doc = fold(doc, "abc", [sourced(kind, value)], SETTINGS).document or doc
    assert doc is not None
    return doc


def stock_of(doc: dict[str, Any], sku: str) -> Any:
    return doc["variant_stock"][escape_key(sku)]["quantity"]


def test_a_listing_is_stored_with_titles_and_read_in_display_order(
    sourced: SourcedFactory,
) -> None:
    doc = folded(sourced, (kinds.CATALOG, {**catalog(), **SHIRT}))
    read = read_sale_product(doc).get(catalog_source.SOURCE)
    assert read is not None
    assert read.options == (("size", ("S", "M", "L")), ("color", ("red", "blue")))
    assert read.variants == (
        Variant("TS-M-RED", "M / red", (("size", "M"), ("color", "red"))),
        Variant("TS-L-BLUE", "Big blue", (("size", "L"), ("color", "blue"))),
    )


def test_a_product_without_variants_is_one_default_variant(sourced: SourcedFactory) -> None:
    doc = folded(sourced, (kinds.CATALOG, catalog()))
    read = read_sale_product(doc).get(catalog_source.SOURCE)
    assert read is not None and read.variants == (DEFAULT_VARIANT,)


@pytest.mark.parametrize("sku", ["TS-M", "a.b", "$sku", "a%2Eb", "ü"])
def test_stock_of_a_sku_not_listed_yet_is_kept_and_stays_when_it_is_dropped(
    sourced: SourcedFactory, sku: str
) -> None:
    doc = folded(
        sourced,
        (kinds.INVENTORY, {**stock_take(5), "sku": sku}),
        (kinds.INVENTORY, {**delta(-2), "sku": sku}),
        (kinds.CATALOG, {**catalog(), **sizes([sku])}),
        (kinds.CATALOG, catalog(minutes=1)),  # Dropped from the catalog.
        (kinds.INVENTORY, {**delta(-1), "sku": sku}),
    )
    assert stock_of(doc, sku) == 2
    assert doc["variant_stock"][escape_key(sku)]["status"] == "LOW_STOCK"
    assert doc["stock"]["quantity"] == 0  # The default variant's stock is apart.
    listed_again = fold(
        doc, "abc", [sourced(kinds.CATALOG, {**catalog(minutes=2), **sizes([sku])})], SETTINGS
    ).document
    assert listed_again is not None and stock_of(listed_again, sku) == 2


def test_a_sku_that_spells_another_skus_escape_is_another_variant(
    sourced: SourcedFactory,
) -> None:
    doc = folded(
        sourced,
        (kinds.INVENTORY, {**stock_take(1), "sku": "a.b"}),
        (kinds.INVENTORY, {**stock_take(7), "sku": "a%2Eb"}),
    )
    assert (stock_of(doc, "a.b"), stock_of(doc, "a%2Eb")) == (1, 7)


def test_prices_per_sku_are_ordered_per_sku_and_apart_from_the_products(
    sourced: SourcedFactory,
) -> None:
    doc = folded(
        sourced,
        (kinds.PRICES, price(amount="20.00", minutes=0)),
        (kinds.PRICES, {**price(amount="25.00", minutes=5, list_amount="30.00"), "sku": "M"}),
        # Older than the stored price of M: ignored. Newer for L: applied.
        (kinds.PRICES, {**price(amount="1.00", minutes=1), "sku": "M"}),
        (kinds.PRICES, {**price(amount="18.00", minutes=1), "sku": "L"}),
    )
    prices = prices_source.read_variant_prices(doc["variant_prices"])
    assert {sku: p.amount for sku, p in prices.items()} == {
        "M": Decimal("25.00"),
        "L": Decimal("18.00"),
    }
    assert prices["M"].discount_percent == Decimal("16.67")
    assert doc["price"]["amount"] == Decimal("20.00")


def test_a_deleted_row_naming_a_sku_withdraws_that_skus_price_only(
    sourced: SourcedFactory,
) -> None:
    row = {**price(amount="25.00"), "sku": "M"}
    doc = folded(
        sourced,
        (kinds.PRICES, price(amount="20.00")),
        (kinds.PRICES, row),
        (kinds.PRICES, {"op": "d", "before": row, "after": None}),
    )
    assert prices_source.read_variant_prices(doc["variant_prices"]) == {}
    assert doc["price"]["amount"] == Decimal("20.00")
    # The withdrawal is remembered: the older row cannot come back.
    again = fold(doc, "abc", [sourced(kinds.PRICES, row, offset=0)], SETTINGS)
    assert again.document is None


def test_units_sold_come_from_the_order_lines_and_one_without(
    sourced: SourcedFactory,
) -> None:
    lines = [
        {"product_id": "abc", "sku": "M", "quantity": 2},
        {"product_id": "abc", "sku": "L", "quantity": 3},
        {"product_id": "other", "quantity": 4},
    ]
    doc = folded(
        sourced,
        (kinds.ORDERS, {**order("o1", "abc"), "lines": lines}),
        (kinds.ORDERS, order("o2", "abc", "other")),
    )
    assert doc["popularity"]["orders"] == 2
    assert doc["popularity"]["units"] == 6


def test_an_order_of_lines_alone_concerns_their_products() -> None:
    value = {**order("o1"), "lines": [{"product_id": "p", "quantity": 1}]}
    decoded = decode_record(kinds.ORDERS, b"o1", encode(value))
    assert kinds.ORDERS.product_ids(decoded.event) == ("p",)
    with pytest.raises(PoisonEvent, match="lists no product"):
        decode_record(kinds.ORDERS, b"o1", encode(order("o1")))
