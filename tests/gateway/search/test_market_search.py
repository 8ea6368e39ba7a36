"""Search by the viewer's market: filters, sorts and price facets use that market's
prices, and a product without one there has none (no fallback to the default market's,
and never another market's)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from shopwindow.gateway.search.engine import Filters, OptionFilter, SearchRequest, SearchSort
from shopwindow.gateway.search.rows import (
    IndexRow,
    Locales,
    VariantRow,
    is_market_key,
    market_key,
    row_of,
    search_prices,
)
from shopwindow.gateway.search.tantivy_index import TantivyIndex
from tests.gateway.search.conftest import indexed
from tests.gateway.search.test_tantivy_index import row
from tests.materializer.conftest import SourcedFactory
from tests.materializer.test_market_prices import NOW, priced, product

CH, US = market_key("ch"), market_key("us")
CATALOG = [
    row("p1", "shoe one", price=80.0, segment_prices={CH: 70.0}),
    # Cheapest for the default market and for gold, and no Swiss price at all.
    row("p2", "shoe two", price=60.0, segment_prices={"gold": 20.0}),
    row("p3", "shoe three", price=120.0, segment_prices={CH: 100.0, US: 5.0}),
    row("p4", "shoe four", price=None, segment_prices={CH: 50.0}),
]


@pytest.fixture(scope="module")
def index() -> Iterator[TantivyIndex]:
    with indexed(CATALOG, markets=("ch", "us")) as made:
        yield made


def ids(index: TantivyIndex, **request: Any) -> list[str]:
    return index.search(SearchRequest(limit=50, **request)).ids


@pytest.mark.parametrize(
    ("prices", "ascending", "descending"),
    [
        (None, ["p2", "p1", "p3", "p4"], ["p3", "p1", "p2", "p4"]),
        ("gold", ["p2", "p1", "p3", "p4"], ["p3", "p1", "p2", "p4"]),
        (CH, ["p4", "p1", "p3", "p2"], ["p3", "p1", "p4", "p2"]),
        (US, ["p3", "p1", "p2", "p4"], ["p3", "p1", "p2", "p4"]),
    ],
    ids=["default market", "a segment", "ch", "us: one price"],
)
def test_a_price_sort_uses_the_viewers_market(
    index: TantivyIndex, prices: str | None, ascending: list[str], descending: list[str]
) -> None:
    found_up = ids(index, sort=SearchSort.PRICE_ASC, segment=prices)
    found_down = ids(index, sort=SearchSort.PRICE_DESC, segment=prices)
    # Products without a price in the viewer's market come last, in either order.
    priced = len([r for r in CATALOG if _price(r, prices) is not None])
    assert found_up[:priced] == ascending[:priced]
    assert found_down[:priced] == descending[:priced]
    assert set(found_up[priced:]) == set(found_down[priced:]) == set(ascending[priced:])


def _price(found: IndexRow, prices: str | None) -> float | None:
    own = found.segment_prices.get(prices) if prices is not None else None
    if own is not None or is_market_key(prices):
        return own
    return found.price


@pytest.mark.parametrize(
    ("prices", "low", "high", "expected"),
    [
        (None, None, Decimal(90), {"p1", "p2"}),
        (CH, None, Decimal(90), {"p1", "p4"}),  # p2's 60 is not a Swiss price
        (CH, Decimal(60), None, {"p1", "p3"}),
        (US, None, Decimal(90), {"p3"}),
    ],
)
def test_a_price_filter_uses_the_viewers_market(
    index: TantivyIndex,
    prices: str | None,
    low: Decimal | None,
    high: Decimal | None,
    expected: set[str],
) -> None:
    filters = Filters(price_min=low, price_max=high)
    assert set(ids(index, filters=filters, segment=prices)) == expected


def test_price_facets_count_the_viewers_market(index: TantivyIndex) -> None:
    ranges = (Decimal(60), Decimal(100))

    def counted(prices: str | None) -> list[tuple[Any, Any, int]]:
        facets = index.facets(SearchRequest(segment=prices), ranges, values=10)
        return [(r.low, r.high, r.count) for r in facets.price_ranges]

    assert counted(None) == [(Decimal(60), Decimal(100), 2), (Decimal(100), None, 1)]
    assert counted(CH) == [
        (None, Decimal(60), 1),
        (Decimal(60), Decimal(100), 1),
        (Decimal(100), None, 1),
    ]


def test_option_filtered_prices_use_the_viewers_market() -> None:
    def variant(size: str, price: float | None, **named: float) -> VariantRow:
        return VariantRow((size,), True, price, named)

    rows = [
        row("s1", "shirt one", option_names=("size",), price=10.0, segment_prices={CH: 40.0},
            variants=(variant("M", 10.0, **{CH: 40.0}), variant("L", 12.0))),
        row("s2", "shirt two", option_names=("size",), price=30.0, segment_prices={CH: 20.0},
            variants=(variant("M", 30.0, **{CH: 20.0}), variant("L", 31.0, **{CH: 21.0}))),
    ]  # fmt: skip
    medium = (OptionFilter("size", ("M",)),)
    with indexed(rows, markets=("ch",)) as made:
        sort = SearchSort.PRICE_ASC
        assert ids(made, filters=Filters(options=medium), sort=sort) == ["s1", "s2"]
        assert ids(made, filters=Filters(options=medium), sort=sort, segment=CH) == ["s2", "s1"]
        cheap = Filters(options=medium, price_max=Decimal(25))
        assert ids(made, filters=cheap, segment=CH) == ["s2"]
        large = Filters(options=(OptionFilter("size", ("L",)),), price_max=Decimal(25))
        # s1's L has no Swiss price: not 12 in francs.
        assert ids(made, filters=large, segment=CH) == ["s2"]
        assert ids(made, filters=large) == ["s1"]


@pytest.mark.parametrize(
    ("segment", "order", "expected"),
    [
        (None, (None,), None),
        ("gold", (None,), "gold"),
        ("gold", ("ch", None), CH),
        (None, ("us",), US),
    ],
)
def test_which_prices_a_viewer_searches_by(
    segment: str | None, order: tuple[str | None, ...], expected: str | None
) -> None:
    assert search_prices(segment, order) == expected


def test_rows_carry_each_markets_prices_as_its_viewers_see_them(
    sourced: SourcedFactory,
) -> None:
    doc = product(
        sourced,
        priced("9"),
        priced("7", sku="B"),
        priced("12", market="ch", currency="CHF", sku="A"),
        priced("30", market="us", currency="USD", sku="B"),
    )
    orders = {"ch": ("ch", None), "us": ("us",)}
    found = row_of(doc, NOW, Locales(orders))
    assert found is not None
    # ch: A at its own 12, B at eu's 7 (the fallback); us: B alone, A has no price.
    assert (found.price, found.segment_prices) == (7.0, {CH: 7.0, US: 30.0})
    assert [(v.price, dict(v.segment_prices)) for v in found.variants] == [
        (9.0, {CH: 12.0}),
        (7.0, {CH: 7.0, US: 30.0}),
    ]
    assert row_of(doc, NOW) == found._replace(
        segment_prices={},
        variants=tuple(v._replace(segment_prices={}) for v in found.variants),
    )
