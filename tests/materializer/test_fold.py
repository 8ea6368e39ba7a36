"""The fold on its own: every semantic rule, table-driven, plus a property test."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

from shopwindow.materializer.events import SourcedEvent
from shopwindow.materializer.fold import FoldSettings, fold
from shopwindow.materializer.sources.base import SourceTopic
from tests import kinds
from tests.materializer.conftest import (
    SourcedFactory,
    catalog,
    click,
    delta,
    order,
    price,
    review,
    stock_take,
)

CATALOG, PRICES, INVENTORY, ORDERS, CLICKS, REVIEWS = (
    kinds.CATALOG,
    kinds.PRICES,
    kinds.INVENTORY,
    kinds.ORDERS,
    kinds.CLICKS,
    kinds.REVIEWS,
)
SETTINGS = FoldSettings(low_stock_threshold=5)

Step = tuple[SourceTopic, dict[str, Any] | None, dict[str, Any]]


def run(
    sourced: SourcedFactory, steps: Sequence[Step], product_id: str = "abc"
) -> dict[str, Any] | None:
    """Fold the steps one event at a time, as separate batches would."""
    doc: dict[str, Any] | None = None
    for kind, value, options in steps:
        result = fold(doc, product_id, [sourced(kind, value, **options)], SETTINGS)
        doc = result.document or doc
    return doc


def get(doc: dict[str, Any] | None, path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = value[part] if value is not None else None
    return value


CASES: list[tuple[str, list[Step], dict[str, Any]]] = [
    (
        "catalog makes a product visible",
        [(CATALOG, catalog(), {})],
        {"visible": True, "catalog.name": "Trail shoe", "version": 1},
    ),
    (
        "stock before catalog is kept but hidden",
        [(INVENTORY, stock_take(7), {})],
        {"visible": False, "stock.available": 7, "catalog": None},
    ),
    (
        "stock that came first shows with the catalog",
        [(INVENTORY, stock_take(7), {}), (PRICES, price(), {}), (CATALOG, catalog(), {})],
        {"visible": True, "stock.available": 7, "price.amount": Decimal("19.99"), "version": 3},
    ),
    (
        "an older snapshot never overwrites a newer one",
        [
            (CATALOG, catalog(minutes=5, name="new"), {}),
            (CATALOG, catalog(minutes=1, name="old"), {}),
        ],
        {"catalog.name": "new", "version": 1},
    ),
    (
        "equal times: the later log position wins",
        [(CATALOG, catalog(name="first"), {}), (CATALOG, catalog(name="second"), {})],
        {"catalog.name": "second", "version": 2},
    ),
    (
        "an older price never overwrites a newer one",
        [(PRICES, price(amount="10", minutes=5), {}), (PRICES, price(amount="12", minutes=2), {})],
        {"price.amount": Decimal("10")},
    ),
    (
        "deltas add up",
        [(INVENTORY, stock_take(10), {}), (INVENTORY, delta(-1), {}), (INVENTORY, delta(-2), {})],
        {"stock.quantity": 7, "stock.available": 7, "stock.status": "IN_STOCK"},
    ),
    (
        "a stock take sets the level",
        [(INVENTORY, delta(-3), {}), (INVENTORY, stock_take(4), {})],
        {"stock.quantity": 4, "stock.status": "LOW_STOCK"},
    ),
    (
        "oversold stock is zero available",
        [(INVENTORY, delta(-3), {})],
        {"stock.quantity": -3, "stock.available": 0, "stock.status": "OUT_OF_STOCK"},
    ),
    ("low stock at the threshold", [(INVENTORY, stock_take(5), {})], {"stock.status": "LOW_STOCK"}),
    (
        "in stock above the threshold",
        [(INVENTORY, stock_take(6), {})],
        {"stock.status": "IN_STOCK"},
    ),
    (
        "discount percent from the list price",
        [(PRICES, price(amount="15.00", list_amount="20.00"), {})],
        {"price.discount_percent": Decimal("25.00")},
    ),
    (
        "no list price, no discount",
        [(PRICES, price(amount="15.00"), {})],
        {"price.discount_percent": None},
    ),
    (
        "money stays exact",
        [(PRICES, price(amount=0.1, list_amount="0.30"), {})],
        {"price.amount": Decimal("0.1"), "price.discount_percent": Decimal("66.67")},
    ),
    (
        "segment prices are kept",
        [(PRICES, price(amount="20", segment_amounts={"gold": "17.99"}), {})],
        {"price.segment_amounts": {"gold": Decimal("17.99")}},
    ),
    (
        "reviews average and count",
        [(REVIEWS, review("r1", 5), {}), (REVIEWS, review("r2", 2), {})],
        {"rating.average": 3.5, "rating.count": 2},
    ),
    (
        "an edited review replaces its rating",
        [
            (REVIEWS, review("r1", 5), {}),
            (REVIEWS, review("r2", 2), {}),
            (REVIEWS, review("r1", 1, minutes=1), {}),
        ],
        {"rating.average": 1.5, "rating.count": 2},
    ),
    (
        "a deleted review no longer counts",
        [
            (REVIEWS, review("r1", 5), {}),
            (REVIEWS, review("r2", 2), {}),
            (REVIEWS, review("r2", 2, minutes=1, deleted=True), {}),
        ],
        {"rating.average": 5.0, "rating.count": 1},
    ),
    (
        "an older edit of a review is ignored",
        [(REVIEWS, review("r1", 5, minutes=3), {}), (REVIEWS, review("r1", 1, minutes=1), {})],
        {"rating.average": 5.0, "rating.count": 1},
    ),
    (
        "the last review deleted leaves no average",
        [(REVIEWS, review("r1", 4), {}), (REVIEWS, review("r1", 4, minutes=1, deleted=True), {})],
        {"rating.average": None, "rating.count": 0},
    ),
    (
        "orders and clicks count",
        [
            (ORDERS, order("o1", "abc", "def"), {}),
            (ORDERS, order("o2", "abc"), {}),
            (CLICKS, click(), {}),
        ],
        {"popularity.orders": 2, "popularity.views": 1},
    ),
    (
        "an order re-published at a new offset counts once",
        [(ORDERS, order("o1", "abc"), {}), (ORDERS, order("o1", "abc"), {})],
        {"popularity.orders": 1, "version": 1},
    ),
    (
        "an outbox event re-published under the same id applies once",
        [(INVENTORY, delta(-1), {"event_id": "e1"}), (INVENTORY, delta(-1), {"event_id": "e1"})],
        {"stock.quantity": -1, "version": 1},
    ),
    (
        "a redelivered record (same offset) applies once",
        [(INVENTORY, delta(-1), {"offset": 7}), (INVENTORY, delta(-1), {"offset": 7})],
        {"stock.quantity": -1, "version": 1},
    ),
    (
        "a catalog tombstone hides the product and keeps its counters",
        [(CATALOG, catalog(), {}), (CLICKS, click(), {}), (CATALOG, None, {"key": "abc"})],
        {"visible": False, "catalog": None, "popularity.views": 1, "version": 3},
    ),
    (
        "an older snapshot does not resurrect a deleted product",
        [
            (CATALOG, catalog(minutes=1), {}),
            (CATALOG, {"op": "d", "before": catalog(), "ts_ms": 1718712600000}, {}),
            (CATALOG, catalog(minutes=2), {}),
        ],
        {"visible": False},
    ),
    (
        "a newer snapshot brings a deleted product back",
        [
            (CATALOG, catalog(minutes=1), {}),
            (CATALOG, None, {"key": "abc"}),
            (CATALOG, catalog(minutes=2, name="back"), {}),
        ],
        {"visible": True, "catalog.name": "back"},
    ),
    (
        "a price tombstone withdraws the price",
        [(PRICES, price(), {}), (PRICES, None, {"key": "abc"})],
        {"price": None},
    ),
    (
        "the same price again changes no version",
        [(PRICES, price(minutes=1), {}), (PRICES, price(minutes=2), {})],
        {"version": 1},
    ),
    (
        "updated_at is the newest event time",
        [(CATALOG, catalog(minutes=3), {}), (INVENTORY, delta(1, minutes=1), {})],
        {"updated_at": catalog(minutes=3)["updated_at"]},
    ),
]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [(steps, expected) for _, steps, expected in CASES],
    ids=[name for name, _, _ in CASES],
)
def test_fold(sourced: SourcedFactory, steps: list[Step], expected: dict[str, Any]) -> None:
    doc = run(sourced, steps)
    for path, value in expected.items():
        actual = get(doc, path)
        if path == "updated_at":
            actual = actual.isoformat().replace("+00:00", "Z")
        assert actual == value, path


def test_an_event_that_changes_nothing_writes_nothing(sourced: SourcedFactory) -> None:
    first = fold(None, "abc", [sourced(CATALOG, catalog(minutes=5))], SETTINGS)
    again = fold(first.document, "abc", [sourced(CATALOG, catalog(minutes=1))], SETTINGS)
    assert again.document is None
    assert again.applied == ()


def test_a_redelivered_batch_reports_its_redeliveries(sourced: SourcedFactory) -> None:
    events = [sourced(INVENTORY, delta(-1)), sourced(INVENTORY, delta(-1))]
    first = fold(None, "abc", events, SETTINGS)
    again = fold(first.document, "abc", events, SETTINGS)
    assert (again.document, again.redelivered) == (None, 2)


def test_the_version_counts_every_change(sourced: SourcedFactory) -> None:
    events: list[SourcedEvent] = [sourced(INVENTORY, delta(-1)) for _ in range(100)]
    result = fold(None, "abc", events, SETTINGS)
    assert result.document is not None
    assert (result.document["version"], result.document["stock"]["quantity"]) == (100, -100)


def test_the_fold_does_not_modify_its_input(sourced: SourcedFactory) -> None:
    first = fold(None, "abc", [sourced(CLICKS, click())], SETTINGS).document
    assert first is not None
    snapshot = repr(first)
    fold(first, "abc", [sourced(CLICKS, click())], SETTINGS)
    assert repr(first) == snapshot
