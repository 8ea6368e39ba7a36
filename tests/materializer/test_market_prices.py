"""Prices per market: kept apart from the default market's and from every SKU, and read
in the viewer's market order (its own, then its fallbacks)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shopwindow.document import escape_key
from shopwindow.materializer.decode import decode_record
from shopwindow.materializer.errors import PoisonEvent
from shopwindow.materializer.events import Position
from shopwindow.materializer.fold import FoldSettings, fold
from shopwindow.materializer.sources.offers import PriceOrder, lowest_price, offers
from shopwindow.materializer.sources.prices import market_entry_key
from shopwindow.sale_product import read_sale_product
from tests import kinds
from tests.helpers import encode
from tests.materializer.conftest import SourcedFactory, catalog, price, sizes, stock_take

# No scheduled prices here: any moment reads the same prices.
NOW = datetime(2026, 1, 1, tzinfo=UTC)

SETTINGS = FoldSettings(markets=frozenset({"eu", "ch", "us"}), default_market="eu")


def product(
    sourced: SourcedFactory, *values: dict[str, Any], settings: FoldSettings = SETTINGS
) -> Any:
    steps = [(kinds.CATALOG, {**catalog(), **sizes(["A", "B"])})]
    steps += [(kinds.INVENTORY, {**stock_take(5), "sku": sku}) for sku in ("A", "B")]
    steps += [(kinds.PRICES, value) for value in values]
    doc = fold(None, "abc", [sourced(kind, value) for kind, value in steps], settings).document
    assert doc is not None
    return read_sale_product(doc)


def priced(amount: str, minutes: float = 0, **fields: Any) -> dict[str, Any]:
    return price(amount=amount, minutes=minutes, **fields)


def amounts(doc: Any, order: PriceOrder) -> dict[str | None, str | None]:
    return {
        offer.variant.sku: str(offer.price.amount) if offer.price else None
        for offer in offers(doc, order, NOW)
    }


RESOLUTION: list[tuple[str, list[dict[str, Any]], PriceOrder, dict[str | None, str | None]]] = [
    (
        "the SKU's price in the market, then the product's in the market",
        [
            priced("10", market="ch", currency="CHF"),
            priced("12", market="ch", currency="CHF", sku="A"),
            priced("9"),
        ],
        ("ch",),
        {"A": "12", "B": "10"},
    ),
    (
        "the market before its fallback, whatever the fallback's SKU prices",
        [priced("10", market="ch", currency="CHF"), priced("7", sku="A")],
        ("ch", None),
        {"A": "10", "B": "10"},
    ),
    (
        "the fallback where the market has none",
        [priced("12", market="ch", currency="CHF", sku="A"), priced("9"), priced("7", sku="B")],
        ("ch", None),
        {"A": "12", "B": "7"},
    ),
    (
        "no fallback: no price, and no implicit conversion",
        [priced("9"), priced("7", sku="B")],
        ("us",),
        {"A": None, "B": None},
    ),
    (
        "the default market named is the default market",
        [priced("9", market="eu"), priced("8", market="eu", sku="A")],
        (None,),
        {"A": "8", "B": "9"},
    ),
    (
        "the default market does not see other markets' prices",
        [priced("9"), priced("1", market="ch", currency="CHF")],
        (None,),
        {"A": "9", "B": "9"},
    ),
    (
        "a withdrawn market price falls back",
        [
            priced("10", market="ch", currency="CHF"),
            priced("9"),
            {"__deleted__": {"product_id": "abc", "market": "ch"}},
        ],
        ("ch", None),
        {"A": "9", "B": "9"},
    ),
]


@pytest.mark.parametrize(
    ("values", "order", "expected"), [c[1:] for c in RESOLUTION], ids=[c[0] for c in RESOLUTION]
)
def test_the_price_in_the_viewers_market_order(
    sourced: SourcedFactory,
    values: list[dict[str, Any]],
    order: PriceOrder,
    expected: dict[str | None, str | None],
) -> None:
    events = []
    for value in values:
        if "__deleted__" in value:  # a CDC delete of a market's row
            row = {**value["__deleted__"], "updated_at": "2024-06-18T13:00:00Z"}
            events.append({"before": row, "after": None, "op": "d", "ts_ms": 1718715600000})
        else:
            events.append(value)
    doc = product(sourced, *events)
    assert amounts(doc, order) == expected
    found = lowest_price(offers(doc, order, NOW), None)
    priced_amounts = [Decimal(a) for a in expected.values() if a is not None]
    assert (found.amount if found else None) == min(priced_amounts, default=None)


def test_a_market_the_file_does_not_declare_is_refused(sourced: SourcedFactory) -> None:
    with pytest.raises(PoisonEvent, match="unknown market 'jp'"):
        product(sourced, priced("9", market="jp", currency="JPY"))


def test_without_a_markets_file_only_the_default_market_exists(sourced: SourcedFactory) -> None:
    plain = FoldSettings()
    doc = product(sourced, priced("9", market="default"), settings=plain)
    assert amounts(doc, (None,)) == {"A": "9", "B": "9"}
    with pytest.raises(PoisonEvent, match="unknown market 'eu'"):
        product(sourced, priced("9", market="eu"), settings=plain)


# SKUs are producers' text: some look like our keys, escapes and all.
HOSTILE_SKUS = [
    *("ch:", "ch:A", "us:", "Mch:", "Mch:A", "%Mch:", "%Mch:A", "%25Mch:A", "%M", "ch", "A"),
    *("%2E", "a.b", "$x", "\x00", ":", '["ch","A"]', '["ch",null]'),
]


@settings(max_examples=300, deadline=None)
@example(writes=[(None, "ch:", 1), ("ch", None, 2)])
@example(writes=[(None, "%Mch:A", 1), ("ch", "A", 2)])
@given(
    writes=st.lists(
        st.tuples(
            st.sampled_from([None, "eu", "ch", "us"]),
            st.one_of(
                st.none(),
                st.sampled_from(HOSTILE_SKUS),
                # Built from our keys' own alphabet, so that collisions are likely.
                st.text(alphabet="%Mchus:25AE.$", min_size=1, max_size=6),
                st.text(min_size=1, max_size=4),
            ),
            st.integers(min_value=1, max_value=999),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_no_two_markets_and_skus_share_a_price(
    writes: list[tuple[str | None, str | None, int]],
) -> None:
    # Each write is newer than the last; the newest per (market, SKU) must be read back.
    expected: dict[tuple[str | None, str | None], int] = {}
    values = []
    for minute, (market, sku, cents) in enumerate(writes):
        fields: dict[str, Any] = {"market": market} if market is not None else {}
        if sku is not None:
            fields["sku"] = sku
        values.append(priced(f"{cents}.00", minutes=minute, **fields))
        expected[(None if market in (None, "eu") else market, sku)] = cents
    skus = sorted({sku for _, sku, _ in writes if sku is not None})
    listing = {**catalog(), "options": [], "variants": []}
    if skus:
        listing = {
            **catalog(),
            "options": [{"name": "code", "values": [f"v{i}" for i in range(len(skus))]}],
            "variants": [{"sku": sku, "options": {"code": f"v{i}"}} for i, sku in enumerate(skus)],
        }
    sourced = [
        kinds.sourced_event(
            kind,
            decode_record(kind, b"abc", encode(value)).event,
            Position(kind.setting, 0, offset),
        )
        for offset, (kind, value) in enumerate(
            [(kinds.CATALOG, listing), *((kinds.PRICES, v) for v in values)]
        )
    ]
    doc = fold(None, "abc", sourced, SETTINGS).document
    assert doc is not None
    read = read_sale_product(doc)
    for market in (None, "ch", "us"):
        for offer in offers(read, (market,), NOW):
            sku = offer.variant.sku
            wanted = expected.get((market, sku), expected.get((market, None)))
            got = int(offer.price.amount) if offer.price is not None else None
            assert got == wanted, (market, sku)


def test_market_keys_cannot_be_spelled_by_a_sku() -> None:
    keys = {market_entry_key(m, s) for m in ("ch", "us") for s in [None, *HOSTILE_SKUS]}
    assert len(keys) == 2 * (1 + len(HOSTILE_SKUS))
    assert not keys & {escape_key(sku) for sku in HOSTILE_SKUS}


DAY = 24 * 60  # minutes


@pytest.mark.parametrize("late_first", [False, True])
def test_the_prior_price_per_variant_and_market_whatever_the_delivery(
    sourced: SourcedFactory, late_first: bool
) -> None:
    history = [
        priced("100", minutes=0, sku="A"),
        priced("90", minutes=20 * DAY, sku="A"),
        priced("100", minutes=25 * DAY, sku="A"),
        priced("70", minutes=40 * DAY, sku="A"),  # a reduction: lowest since day 10 is 90
        priced("30", minutes=40 * DAY, market="ch", currency="CHF"),  # ch: no prior price
        priced("40", minutes=0, sku="B"),
        priced("45", minutes=40 * DAY, sku="B"),  # a rise: none
    ]
    if late_first:
        history = history[::-1]  # every record late, the oldest last
    doc = product(sourced, *history)
    prior = {
        (order, offer.variant.sku): offer.price.lowest_prior if offer.price else None
        for order in ((None,), ("ch", None))
        for offer in offers(doc, order, NOW)
    }
    assert prior == {
        ((None,), "A"): Decimal(90),
        ((None,), "B"): None,
        (("ch", None), "A"): None,  # ch's own product price, which has no history before
        (("ch", None), "B"): None,
    }
    # Delivered again after a crash before the commit: nothing changes.
    events = [sourced(kinds.PRICES, value) for value in history]
    first = fold(None, "abc", events, SETTINGS).document
    assert first is not None
    assert fold(first, "abc", events, SETTINGS).document is None
