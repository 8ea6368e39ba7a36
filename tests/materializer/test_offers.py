"""Offers: each variant's price and stock, and the product's price and stock over them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from shopwindow.materializer.fold import FoldSettings, fold
from shopwindow.materializer.sources.offers import (
    DEFAULT_ORDER,
    lowest_amount,
    lowest_price,
    offers,
    price_range,
    total_stock,
)
from shopwindow.sale_product import read_sale_product
from tests import kinds
from tests.materializer.conftest import SourcedFactory, catalog, price, sizes, stock_take

# No scheduled prices here: any moment reads the same prices.
NOW = datetime(2026, 1, 1, tzinfo=UTC)

SETTINGS = FoldSettings(low_stock_threshold=2)


def product(sourced: SourcedFactory, *steps: tuple[Any, dict[str, Any]]) -> Any:
    doc = fold(None, "abc", [sourced(kind, value) for kind, value in steps], SETTINGS).document
    assert doc is not None
    return read_sale_product(doc)


def sku_price(sku: str, amount: str, **fields: Any) -> tuple[Any, dict[str, Any]]:
    return (kinds.PRICES, {**price(amount=amount, **fields), "sku": sku})


def sku_stock(sku: str, quantity: int) -> tuple[Any, dict[str, Any]]:
    return (kinds.INVENTORY, {**stock_take(quantity), "sku": sku})


CASES: list[tuple[str, list[tuple[Any, dict[str, Any]]], str | None, str | None, int]] = [
    (
        "the cheapest variant for sale, not the cheapest sold-out one",
        [sku_price("A", "5.00"), sku_price("B", "9.00"), sku_stock("B", 4)],
        None,
        "9.00",
        4,
    ),
    (
        "none for sale: the cheapest priced variant",
        [sku_price("A", "5.00"), sku_price("B", "9.00")],
        None,
        "5.00",
        0,
    ),
    (
        "a SKU without a price of its own has the product's",
        [(kinds.PRICES, price(amount="7.00")), sku_price("A", "8.00"), sku_stock("B", 1)],
        None,
        "7.00",
        1,
    ),
    (
        "a segment price of 0 is a price",
        [sku_price("A", "5.00", segment_amounts={"gold": "0"}), sku_stock("A", 1)],
        "gold",
        "0",
        1,
    ),
    (
        "stock of a SKU the catalog does not list is hidden",
        [sku_price("A", "5.00"), sku_stock("A", 1), sku_stock("GONE", 50)],
        None,
        "5.00",
        1,
    ),
]


@pytest.mark.parametrize(
    ("steps", "segment", "amount", "available"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_the_products_price_and_stock_over_its_variants(
    sourced: SourcedFactory,
    steps: list[tuple[Any, dict[str, Any]]],
    segment: str | None,
    amount: str | None,
    available: int,
) -> None:
    found = offers(
        product(sourced, (kinds.CATALOG, {**catalog(), **sizes(["A", "B"])}), *steps),
        DEFAULT_ORDER,
        NOW,
    )
    price = lowest_price(found, segment)
    assert (price.amount if price else None) == (Decimal(amount) if amount else None)
    # Search's index takes the same amount without building the price.
    assert lowest_amount(found, segment) == (price.amount if price else None)
    assert total_stock(found).available == available


def test_the_range_and_the_best_status(sourced: SourcedFactory) -> None:
    found = offers(
        product(
            sourced,
            (kinds.CATALOG, {**catalog(), **sizes(["A", "B"])}),
            sku_price("A", "5.00"),
            sku_price("B", "9.00"),
            sku_stock("A", 1),
            sku_stock("B", 10),
        ),
        DEFAULT_ORDER,
        NOW,
    )
    low, high = price_range(found, None) or (None, None)
    assert (low and low.amount, high and high.amount) == (Decimal("5.00"), Decimal("9.00"))
    assert [o.stock.status.value for o in found] == ["LOW_STOCK", "IN_STOCK"]
    assert total_stock(found).status.value == "IN_STOCK"
