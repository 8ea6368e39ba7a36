"""Scheduled prices: kept beside the slot's price, chosen at the reader's moment."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopwindow.materializer.errors import PoisonEvent
from shopwindow.materializer.fold import FoldSettings, fold
from shopwindow.materializer.sources.offers import (
    PriceOrder,
    lowest_price,
    next_price_change,
    offers,
    price_boundaries,
)
from shopwindow.materializer.sources.price_schedule import MAX_SCHEDULED
from shopwindow.sale_product import SaleProduct, read_sale_product
from tests import kinds
from tests.materializer.conftest import T0, SourcedFactory, at, catalog, sizes, stock_take
from tests.materializer.conftest import price as price_record

SETTINGS = FoldSettings(markets=frozenset({"eu", "ch"}), default_market="eu")


def price(amount: str, minutes: float = 0, **fields: Any) -> dict[str, Any]:
    return price_record(amount=amount, minutes=minutes, **fields)


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def when(n: float) -> str:
    return at(n * 60)


def product(sourced: SourcedFactory, *values: dict[str, Any]) -> SaleProduct:
    steps = [(kinds.CATALOG, {**catalog(), **sizes(["A", "B"])})]
    steps += [(kinds.INVENTORY, {**stock_take(5), "sku": sku}) for sku in ("A", "B")]
    events = [sourced(kind, value) for kind, value in steps]
    for value in values:
        if "__deleted__" in value:  # a CDC delete of a scheduled price's row
            row = {**value["__deleted__"], "product_id": "abc", "updated_at": when(0)}
            delete = {"before": row, "after": None, "op": "d", "ts_ms": value["ts_ms"]}
            events.append(sourced(kinds.PRICES, delete))
        else:
            events.append(sourced(kinds.PRICES, value))
    doc = fold(None, "abc", events, SETTINGS).document
    assert doc is not None
    return read_sale_product(doc)


def amounts(doc: SaleProduct, moment: datetime, order: PriceOrder = (None,)) -> dict[str, Any]:
    return {
        str(offer.variant.sku): str(offer.price.amount) if offer.price else None
        for offer in offers(doc, order, moment)
    }


SALE = price("15", valid_from=when(10), valid_until=when(20))

# (case, price records, moment in hours after T0, amounts of A and B then)
IN_EFFECT: list[tuple[str, list[dict[str, Any]], float, dict[str, Any]]] = [
    ("before the window: the slot's own price", [price("20"), SALE], 9.99, {"A": "20", "B": "20"}),
    ("at its start", [price("20"), SALE], 10, {"A": "15", "B": "15"}),
    ("at its end: the slot's own again", [price("20"), SALE], 20, {"A": "20", "B": "20"}),
    (
        "the one that began last, inside a longer one",
        [
            price("20"),
            price("18", valid_from=when(0), valid_until=when(100)),
            SALE,
        ],
        12,
        {"A": "15", "B": "15"},
    ),
    (
        "a SKU's scheduled price before the product's own",
        [price("20"), SALE, price("12", sku="A", valid_from=when(11))],
        12,
        {"A": "12", "B": "15"},
    ),
    (
        "a SKU's own price before the product's scheduled one",
        [price("20"), price("19", sku="A"), SALE],
        12,
        {"A": "19", "B": "15"},
    ),
    (
        "only valid_until: from the record's own time",
        [price("20"), price("16", minutes=60, valid_until=when(5))],
        2,
        {"A": "16", "B": "16"},
    ),
    ("a scheduled price alone: no price before it", [SALE], 5, {"A": None, "B": None}),
    ("a scheduled price alone: in its window", [SALE], 15, {"A": "15", "B": "15"}),
    (
        "a newer record with the same start replaces it",
        [price("20"), SALE, price("14", minutes=1, valid_from=when(10))],
        30,
        {"A": "14", "B": "14"},
    ),
    (
        "an older record with the same start does not",
        [price("20"), SALE, price("14", minutes=-1, valid_from=when(10))],
        15,
        {"A": "15", "B": "15"},
    ),
    (
        "a CDC delete naming the start withdraws it",
        [
            price("20"),
            SALE,
            {"__deleted__": {"valid_from": when(10)}, "ts_ms": 1718715600000 + 60_000},
        ],
        15,
        {"A": "20", "B": "20"},
    ),
]


@pytest.mark.parametrize(
    ("values", "moment", "expected"), [c[1:] for c in IN_EFFECT], ids=[c[0] for c in IN_EFFECT]
)
def test_the_price_in_effect_at_the_readers_moment(
    sourced: SourcedFactory, values: list[dict[str, Any]], moment: float, expected: dict[str, Any]
) -> None:
    doc = product(sourced, *values)
    assert amounts(doc, hours(moment)) == expected


def test_each_market_keeps_its_own_schedule(sourced: SourcedFactory) -> None:
    doc = product(
        sourced,
        price("20"),
        price("30", market="ch", currency="CHF"),
        price("25", market="ch", currency="CHF", valid_from=when(10), valid_until=when(20)),
    )
    assert amounts(doc, hours(15), ("ch", None)) == {"A": "25", "B": "25"}
    assert amounts(doc, hours(15)) == {"A": "20", "B": "20"}
    assert amounts(doc, hours(20), ("ch", None)) == {"A": "30", "B": "30"}


def test_the_boundaries_and_the_next_change(sourced: SourcedFactory) -> None:
    doc = product(
        sourced, price("20"), SALE, price("9", sku="B", valid_from=when(15), valid_until=when(40))
    )
    assert price_boundaries(doc) == (hours(10), hours(15), hours(20), hours(40))
    assert next_price_change(doc, hours(0)) == hours(10)
    assert next_price_change(doc, hours(10)) == hours(15)
    assert next_price_change(doc, hours(40)) is None
    assert next_price_change(product(sourced, price("20")), hours(0)) is None


def test_a_reduction_scheduled_carries_its_prior_price(sourced: SourcedFactory) -> None:
    doc = product(sourced, price("25", minutes=-60 * 24 * 10), price("20"), SALE)
    found = lowest_price(offers(doc, (None,), hours(12)), None)
    assert found is not None and found.amount == Decimal("15")
    # In force in the 30 days before the sale began: 25, then 20.
    assert found.lowest_price_30d == Decimal("20")
    # A late record of a lower price before the sale changes it.
    late = product(
        sourced, price("25", minutes=-60 * 24 * 10), price("20"), SALE, price("17", minutes=-60)
    )
    found = lowest_price(offers(late, (None,), hours(12)), None)
    assert found is not None and found.lowest_price_30d == Decimal("17")


def test_a_scheduled_rise_has_no_prior_price(sourced: SourcedFactory) -> None:
    doc = product(sourced, price("10"), SALE)
    found = lowest_price(offers(doc, (None,), hours(12)), None)
    assert found is not None and found.amount == Decimal("15")
    assert found.lowest_price_30d is None


@pytest.mark.parametrize(
    "window",
    [
        {"valid_from": when(10), "valid_until": when(10)},
        {"valid_from": when(10), "valid_until": when(9)},
        {"valid_until": when(-1)},
        {"valid_from": "next friday"},
        {"valid_from": when(1), "valid_until": 12},
    ],
    ids=["empty", "ends before it starts", "ends before the record", "no time", "a number"],
)
def test_a_window_that_cannot_hold_is_dead_lettered(
    sourced: SourcedFactory, window: dict[str, Any]
) -> None:
    with pytest.raises(PoisonEvent, match="valid_"):
        product(sourced, price("20", **window))


def test_the_bound_per_slot(sourced: SourcedFactory) -> None:
    windows = [price("9", valid_from=when(n), valid_until=when(n + 1)) for n in range(50, 60)]
    kept = windows[:MAX_SCHEDULED]
    product(sourced, *kept)  # at the bound: kept
    with pytest.raises(PoisonEvent, match=f"more than {MAX_SCHEDULED} scheduled prices"):
        product(sourced, *windows[: MAX_SCHEDULED + 1])
    # Another slot (a SKU, a market) has a bound of its own.
    product(sourced, *kept, price("9", sku="A", valid_from=when(1)))
    # Ended ones make room: a record after the first ended drops it.
    later = price("9", minutes=51.5 * 60, valid_from=when(70), valid_until=when(71))
    doc = product(sourced, *kept, later)
    assert price_boundaries(doc)[0] == hours(51)
    # A record replacing one already kept never counts against it.
    product(sourced, *kept, price("8", minutes=1, valid_from=when(50), valid_until=when(51)))


@st.composite
def schedules(draw: st.DrawFn) -> tuple[list[tuple[int, dict[str, Any]]], list[int]]:
    """Scheduled price records and withdrawals for two slots, in one log order, and a
    delivery of it with redeliveries after a crash. Event times are distinct and out of
    log order; every window is in the future of every record."""
    count = draw(st.integers(1, 7))
    minutes = draw(st.permutations(range(count)))
    records: list[dict[str, Any]] = []
    for minute in minutes:
        sku = draw(st.sampled_from([None, "A"]))
        start = draw(st.sampled_from([10, 20, 30]))
        if draw(st.integers(0, 3)) == 0:
            row = {"valid_from": when(start), **({"sku": sku} if sku else {})}
            records.append({"__deleted__": row, "ts_ms": 1718712000000 + minute * 60_000})
            continue
        end = draw(st.sampled_from([e for e in (None, 25, 40, 60) if e is None or e > start]))
        window = {"valid_from": when(start), **({"valid_until": when(end)} if end else {})}
        amount = str(draw(st.sampled_from([5, 8, 12])) + minute)
        records.append(price(amount, minute, **window, **({"sku": sku} if sku else {})))
    log = list(enumerate(records))
    crash_at = draw(st.integers(0, len(log)))
    replayed = draw(st.integers(0, len(log)))
    delivery = [*range(crash_at), *range(max(0, crash_at - replayed), len(log))]
    return log, delivery


def _reference(log: list[tuple[int, dict[str, Any]]], moment: float) -> dict[str, Any]:
    """The amounts at ``moment`` from the whole log: per slot and start the newest
    record wins; of the windows holding the moment, the latest start; else 20."""
    newest: dict[tuple[Any, str], tuple[int, dict[str, Any]]] = {}
    for _, record in log:
        fields = record.get("__deleted__", record)
        key = (fields.get("sku"), fields["valid_from"])
        time = record["ts_ms"] if "__deleted__" in record else record["updated_at"]
        rank = time if isinstance(time, int) else 1718712000000 + _minute(time) * 60_000
        if key not in newest or rank > newest[key][0]:
            newest[key] = (rank, record)
    at_moment = hours(moment).isoformat().replace("+00:00", "Z")

    def slot(sku: str | None) -> str | None:
        holding = [
            (fields["valid_from"], fields["amount"])
            for (found_sku, _), (_, fields) in newest.items()
            if found_sku == sku
            and "__deleted__" not in fields
            and fields["valid_from"] <= at_moment
            and ("valid_until" not in fields or at_moment < fields["valid_until"])
        ]
        return max(holding)[1] if holding else None

    product = slot(None) or "20"
    return {"A": slot("A") or product, "B": product}


def _minute(stamp: str) -> int:
    return round((datetime.fromisoformat(stamp) - T0).total_seconds() / 60)


# ``sourced`` only numbers offsets, and the records given theirs: sharing it is safe.
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(schedules())
def test_any_delivery_of_the_log_shows_the_same_prices(
    sourced: SourcedFactory, drawn: tuple[list[tuple[int, dict[str, Any]]], list[int]]
) -> None:
    log, delivery = drawn
    events = [
        sourced(kinds.CATALOG, {**catalog(), **sizes(["A", "B"])}),
        *(sourced(kinds.INVENTORY, {**stock_take(5), "sku": sku}) for sku in ("A", "B")),
        sourced(kinds.PRICES, price("20", -10), offset=0),
    ]
    for index in delivery:
        offset, record = log[index]
        if "__deleted__" in record:
            row = {**record["__deleted__"], "product_id": "abc", "updated_at": when(0)}
            value = {"before": row, "after": None, "op": "d", "ts_ms": record["ts_ms"]}
        else:
            value = record
        events.append(sourced(kinds.PRICES, value, offset=offset + 1))
    doc = fold(None, "abc", events, SETTINGS).document
    assert doc is not None
    product = read_sale_product(doc)
    for moment in (0, 10, 15, 20, 24.5, 25, 30, 45, 60, 100):
        expected = {sku: str(Decimal(amount)) for sku, amount in _reference(log, moment).items()}
        assert amounts(product, hours(moment)) == expected, moment


def test_the_widest_windows_a_producer_can_send(sourced: SourcedFactory) -> None:
    # A window from the first representable moment, and one to the last: the prior
    # price's 30 days would reach before year 1.
    doc = product(
        sourced,
        price("20", minutes=-60),
        price("9", valid_from="0001-01-01T00:00:00Z", valid_until="9999-12-31T23:59:59.999Z"),
        price("8", sku="A", valid_from="0001-01-01T00:00:00Z"),
    )
    assert amounts(doc, hours(1)) == {"A": "8", "B": "9"}
    found = lowest_price(offers(doc, (None,), hours(1)), None)
    assert found is not None and found.lowest_price_30d is None


def test_prices_at_the_first_representable_days(sourced: SourcedFactory) -> None:
    # Thirty days before these is before year 1: the prior price's window is clipped.
    doc = product(
        sourced,
        price("20", updated_at="0001-01-02T00:00:00Z"),
        price("10", updated_at="0001-01-03T00:00:00Z"),
        price("9", updated_at="0001-01-04T00:00:00Z", valid_from="0001-01-05T00:00:00Z"),
    )
    found = lowest_price(offers(doc, (None,), hours(1)), None)
    assert found is not None
    assert (found.amount, found.lowest_price_30d) == (Decimal(9), Decimal(10))
