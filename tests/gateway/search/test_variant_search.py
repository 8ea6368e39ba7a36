"""Search by option, at the variant level: filters, price by the cheapest matching
variant, and disjunctive option facets, held to a brute-force reading of the rules."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopwindow.gateway.errors import UserInputError
from shopwindow.gateway.search.engine import (
    Filters,
    OptionFilter,
    SearchRequest,
    SearchSort,
)
from shopwindow.gateway.search.rows import IndexRow, VariantRow, is_market_key, market_key
from shopwindow.gateway.search.service import check_filters
from shopwindow.gateway.search.tantivy_index import TantivyIndex
from shopwindow.gateway.search.variant_terms import (
    MAX_COMBINATIONS,
    value_of,
    variant_terms,
    wanted_terms,
)
from tests.gateway.search.conftest import indexed

RANGES = (Decimal(10), Decimal(50))
# Another market's prices, searched beside the segments'.
CH = market_key("ch")


def v(
    values: tuple[str, ...], in_stock: bool, price: float | None, **segments: float
) -> VariantRow:
    return VariantRow(values, in_stock, price, dict(segments))


def product(product_id: str, names: tuple[str, ...], *variants: VariantRow) -> IndexRow:
    """A row as ``rows.row_of`` makes it: the product's price and stock over its variants."""
    available = [x for x in variants if x.in_stock and x.price is not None]
    chosen = available or [x for x in variants if x.price is not None]
    price = min((x.price for x in chosen if x.price is not None), default=None)
    segments = {s for x in variants for s in x.segment_prices}

    def lowest(name: str) -> float | None:
        # Per price list, among the variants for sale at its prices, as ``offers`` does
        # per market: a variant priced only elsewhere is not for sale there.
        priced = [x for x in variants if x.viewer_price(name) is not None]
        for_sale = [x for x in priced if x.in_stock] or priced
        return min((p for x in for_sale if (p := x.viewer_price(name)) is not None), default=None)

    return IndexRow(
        id=product_id,
        name=f"shirt {product_id}",
        brand="Acme",
        category="shirts",
        description="",
        attributes=(),
        price=price,
        segment_prices={s: found for s in segments if (found := lowest(s)) is not None},
        in_stock=any(x.in_stock for x in variants),
        listed_s=0,
        units_sold=0,
        trending_score=0.0,
        option_names=names,
        variants=variants if names else (),
    )


SC = ("size", "color")
# The case: a red M in stock and a blue L in stock are not a blue M in stock.
CATALOG = [
    product("a", SC, v(("M", "red"), True, 30.0), v(("L", "blue"), True, 10.0),
            v(("M", "blue"), False, 5.0)),
    product("b", SC, v(("M", "blue"), True, 40.0), v(("S", "blue"), True, 8.0)),
    product("c", ("size",), v(("M",), False, 20.0), v(("XL",), True, 60.0, gold=15.0)),
    product("d", ()),  # no options: one default variant, never matched by an option
]  # fmt: skip


@pytest.fixture(scope="module")
def index() -> Iterator[TantivyIndex]:
    with indexed(CATALOG) as made:
        yield made


def search(index: TantivyIndex, **filters: Any) -> list[str]:
    sort = filters.pop("sort", SearchSort.RELEVANCE)
    segment = filters.pop("segment", None)
    request = SearchRequest(filters=Filters(**filters), sort=sort, limit=50, segment=segment)
    page = index.search(request)
    assert page.total == len(page.ids)
    return page.ids if sort is not SearchSort.RELEVANCE else sorted(page.ids)


def size(*values: str) -> OptionFilter:
    return OptionFilter("size", values)


def color(*values: str) -> OptionFilter:
    return OptionFilter("color", values)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"options": (size("M"),)}, ["a", "b", "c"]),
        ({"options": (size("M"), color("blue"))}, ["a", "b"]),
        ({"options": (size("M"), color("blue")), "in_stock": True}, ["b"]),
        ({"options": (size("M"), color("red")), "in_stock": True}, ["a"]),
        ({"options": (size("M"),), "in_stock": False}, ["c"]),  # c's only M is sold out
        ({"options": (size("M", "XL"),), "in_stock": True}, ["a", "b", "c"]),
        ({"options": (size("m"),)}, []),  # values are matched as the catalog spells them
        ({"options": (OptionFilter("fit", ("slim",)),)}, []),
        ({"options": (size("L"),), "in_stock": True}, ["a"]),
        # The cheapest matching variant decides the price: a's M costs 30 in stock.
        ({"options": (size("M"),), "in_stock": True, "price_max": Decimal(35)}, ["a"]),
        # a's sold-out blue M (5) is not its price while its red M (30) is available.
        ({"options": (size("M"),), "price_min": Decimal(25)}, ["a", "b"]),
        # Without options the product's price is its lowest available one.
        ({"price_max": Decimal(10)}, ["a", "b"]),
    ],
)
def test_options_filter_per_variant(
    index: TantivyIndex, filters: dict[str, Any], expected: list[str]
) -> None:
    assert search(index, **filters) == expected


def test_price_sorts_by_the_cheapest_matching_variant(index: TantivyIndex) -> None:
    # As Product.price chooses: c's M is sold out, so its XL (60) is its price, and a's
    # red M (30), not its sold-out blue M (5).
    options = (size("M", "XL"),)
    assert search(index, options=options, sort=SearchSort.PRICE_ASC) == ["a", "b", "c"]
    assert search(index, options=options, sort=SearchSort.PRICE_DESC) == ["c", "b", "a"]
    # Sizes M alone: c's sold-out M (20) is the only match, so it is c's price.
    only_m = {"options": (size("M"),), "sort": SearchSort.PRICE_ASC}
    assert search(index, **only_m) == ["c", "a", "b"]
    # At the viewer's segment price: gold pays 15 for c's XL.
    assert search(index, options=options, sort=SearchSort.PRICE_ASC, segment="gold") == [
        "c",
        "a",
        "b",
    ]


def test_price_pages_read_by_bounds_never_stop_before_a_cheaper_match() -> None:
    # e's floor is its sold-out XL (3); its M costs 12. c's floor (15) is above a's and
    # b's, but its M (20) is cheaper than theirs: a page must not end before reading it.
    e = product("e", ("size",), v(("M",), True, 12.0), v(("XL",), False, 3.0))
    with indexed([*CATALOG, e]) as made:
        pages = [
            made.search(
                SearchRequest(
                    filters=Filters(options=(size("M"),)),
                    sort=SearchSort.PRICE_ASC,
                    offset=offset,
                    limit=1,
                )
            ).ids
            for offset in range(5)
        ]
    assert pages == [["e"], ["c"], ["a"], ["b"], []]


def facet_counts(index: TantivyIndex, **filters: Any) -> dict[str, dict[str, int]]:
    found = index.facets(SearchRequest(filters=Filters(**filters)), RANGES, 50)
    return {o.name: {x.value: x.count for x in o.values} for o in found.options}


def test_option_facets_count_what_picking_each_value_would_show(index: TantivyIndex) -> None:
    assert facet_counts(index) == {
        "size": {"M": 3, "L": 1, "S": 1, "XL": 1},
        "color": {"blue": 2, "red": 1},
    }
    # With blue picked and in stock: the sizes in blue that are in stock (c has no
    # colours, so its XL is not one), and the colours that have a variant in stock.
    picked = facet_counts(index, options=(color("blue"),), in_stock=True)
    assert picked == {"size": {"L": 1, "M": 1, "S": 1}, "color": {"blue": 2, "red": 1}}
    sold_out = facet_counts(index, options=(size("M"),), in_stock=False)
    assert sold_out == {"size": {"M": 1}, "color": {"blue": 1}}


def test_stock_and_price_facets_hold_per_variant(index: TantivyIndex) -> None:
    found = index.facets(
        SearchRequest(filters=Filters(options=(size("M"), color("blue")), in_stock=True)),
        RANGES,
        50,
    )
    assert found.in_stock == [(True, 1), (False, 1)]
    assert [(r.low, r.high, r.count) for r in found.price_ranges] == [(Decimal(10), Decimal(50), 1)]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (Filters(options=(size("M"), size("L"))), "named twice"),
        (Filters(options=(size(),)), "at least one value"),
        (
            Filters(options=(size(*map(str, range(100))), color(*map(str, range(100))))),
            f"more than {MAX_COMBINATIONS}",
        ),
        (Filters(options=(size("x" * 10_000),)), "at most 256"),
    ],
)
def test_hostile_option_filters_are_refused(filters: Filters, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        check_filters(filters)


def test_terms_say_each_combination_once_and_which_are_in_stock() -> None:
    terms = variant_terms(SC, (v(("M", "red"), True, 1.0), v(("M", "blue"), False, 1.0)))
    assert terms == sorted(
        {
            "size\x1fM",
            "size\x1fM\x1d",
            "color\x1fred",
            "color\x1fred\x1d",
            "color\x1fblue",
            "color\x1fred\x1esize\x1fM",
            "color\x1fred\x1esize\x1fM\x1d",
            "color\x1fblue\x1esize\x1fM",
        }
    )
    assert wanted_terms((size("M"), color("red", "blue")), in_stock=True) == [
        "color\x1fred\x1esize\x1fM\x1d",
        "color\x1fblue\x1esize\x1fM\x1d",
    ]
    assert value_of("color\x1fred\x1esize\x1fM\x1d", "size") == "M"


# The property: any catalog and filter, against a brute-force reading of the rules.
# Values include regular-expression syntax, case twins and a value that is another's
# prefix, as producers send them.
VALUES = ("M", "m", "M ", ".*", "[", "a|b", "\\x{1F}", "é")
NAMES = ("size", "color", "a.b")


@st.composite
def catalogs(draw: st.DrawFn) -> list[IndexRow]:
    rows = []
    for number in range(draw(st.integers(1, 9))):
        names = tuple(draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=3)))
        combos = list(itertools.product(*([VALUES[:4]] * len(names))))
        chosen = draw(st.lists(st.sampled_from(combos), unique=True, min_size=1, max_size=5))
        variants = []
        for combo in chosen:
            price = draw(st.sampled_from([None, 5.0, 20.0, 60.0]))
            # A segment's price is part of a price record: never without a price. Another
            # market's price is a record of its own: with or without one here.
            segments = {} if price is None else draw(st.sampled_from([{}, {"gold": 1.0}]))
            segments |= draw(st.sampled_from([{}, {CH: 3.0}, {CH: 25.0}, {CH: 70.0}]))
            variants.append(VariantRow(tuple(combo), draw(st.booleans()), price, segments))
        if not names:
            variants = variants[:1]
        rows.append(product(f"p{number}", names, *variants))
    return rows


option_filters = st.lists(
    st.builds(
        OptionFilter,
        st.sampled_from(NAMES),
        st.lists(st.sampled_from(VALUES), min_size=1, max_size=2, unique=True).map(tuple),
    ),
    max_size=2,
    unique_by=lambda o: o.name,
).map(tuple)
filters_drawn = st.builds(
    Filters,
    options=option_filters,
    in_stock=st.sampled_from([None, True, False]),
    price_min=st.sampled_from([None, Decimal(10)]),
    price_max=st.sampled_from([None, Decimal(30)]),
)


def viewer_price(x: VariantRow | IndexRow, segment: str | None) -> float | None:
    if isinstance(x, VariantRow):
        return x.viewer_price(segment)
    own = x.segment_prices.get(segment) if segment else None
    if is_market_key(segment):
        return own  # Another market: no price there is none, not the default market's.
    return x.price if own is None else own


def reference_price(row: IndexRow, filters: Filters, segment: str | None) -> float | None:
    if not filters.options:
        return viewer_price(row, segment)
    matching = [
        x
        for x in row.variants
        if all(o.name in row.option_names for o in filters.options)
        and all(x.values[row.option_names.index(o.name)] in o.values for o in filters.options)
    ]
    if filters.in_stock is not None:
        matching = [x for x in matching if x.in_stock == filters.in_stock]
    available = [x for x in matching if x.in_stock and x.viewer_price(segment) is not None]
    prices = [p for x in available or matching if (p := x.viewer_price(segment)) is not None]
    return min(prices, default=None)


def reference_match(row: IndexRow, filters: Filters, segment: str | None) -> bool:
    if filters.options:
        if not all(o.name in row.option_names for o in filters.options):
            return False
        matching = [
            x
            for x in row.variants
            if all(x.values[row.option_names.index(o.name)] in o.values for o in filters.options)
        ]
        stocked = [x for x in matching if x.in_stock]
        if not matching or (filters.in_stock is True and not stocked):
            return False
        if filters.in_stock is False and stocked:
            return False
    elif filters.in_stock is not None and row.in_stock != filters.in_stock:
        return False
    if filters.price_min is None and filters.price_max is None:
        return True
    price = reference_price(row, filters, segment)
    return (
        price is not None
        and (filters.price_min is None or price >= float(filters.price_min))
        and (filters.price_max is None or price <= float(filters.price_max))
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    catalogs(),
    filters_drawn.filter(lambda f: bool(f.options)),
    st.sampled_from([None, "gold", CH]),
    st.booleans(),
    st.integers(0, 6),
    st.integers(1, 3),
)
def test_price_pages_over_options_are_exact(
    rows: list[IndexRow],
    filters: Filters,
    segment: str | None,
    ascending: bool,
    offset: int,
    limit: int,
) -> None:
    """Pages read by price bounds, stopping early, equal a full sort: by the cheapest
    matching variant, ties and unpriced products in the order first indexed."""
    with indexed(rows, markets=("ch",)) as index:
        sort = SearchSort.PRICE_ASC if ascending else SearchSort.PRICE_DESC
        request = SearchRequest(
            filters=filters, sort=sort, offset=offset, limit=limit, segment=segment
        )
        matching = [(n, r) for n, r in enumerate(rows) if reference_match(r, filters, segment)]
        sign = 1.0 if ascending else -1.0

        def key(item: tuple[int, IndexRow]) -> tuple[bool, float, int]:
            price = reference_price(item[1], filters, segment)
            return (price is None, 0.0 if price is None else sign * price, item[0])

        expected = [r.id for _, r in sorted(matching, key=key)]
        page = index.search(request)
        assert page.ids == expected[offset : offset + limit]
        assert page.total == len(expected)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(catalogs(), filters_drawn, st.sampled_from([None, "gold", CH]))
def test_search_and_facets_agree_with_the_rules(
    rows: list[IndexRow], filters: Filters, segment: str | None
) -> None:
    with indexed(rows, markets=("ch",)) as index:
        request = SearchRequest(filters=filters, limit=50, segment=segment)
        expected = sorted(r.id for r in rows if reference_match(r, filters, segment))
        assert sorted(index.search(request).ids) == expected

        ascending = index.search(replace(request, sort=SearchSort.PRICE_ASC)).ids
        prices = {r.id: reference_price(r, filters, segment) for r in rows}
        keys = [(prices[i] is None, prices[i] or 0.0) for i in ascending]
        assert keys == sorted(keys)

        found = index.facets(request, RANGES, 50)
        options: dict[str, Counter[str]] = {}
        for row in rows:
            for name in row.option_names:
                position = row.option_names.index(name)
                others = tuple(o for o in filters.options if o.name != name)
                for value in {x.values[position] for x in row.variants}:
                    picked = replace(filters, options=(*others, OptionFilter(name, (value,))))
                    if reference_match(row, picked, segment):
                        options.setdefault(name, Counter())[value] += 1
        assert {o.name: {x.value: x.count for x in o.values} for o in found.options} == {
            name: dict(counts) for name, counts in options.items() if counts
        }
        stock = {
            flag: sum(reference_match(r, replace(filters, in_stock=flag), segment) for r in rows)
            for flag in (True, False)
        }
        assert dict(found.in_stock) == {flag: n for flag, n in stock.items() if n}
