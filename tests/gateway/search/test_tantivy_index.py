"""The embedded index on its own: matching, filters, sorts and disjunctive facets."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from shopwindow.gateway.search.engine import (
    AttributeFilter,
    Filters,
    SearchRequest,
    SearchSort,
)
from shopwindow.gateway.search.rows import IndexRow
from shopwindow.gateway.search.tantivy_index import TantivyIndex
from tests.gateway.search.conftest import indexed


def row(product_id: str, name: str, **fields: Any) -> IndexRow:
    values: dict[str, Any] = {
        "brand": "Acme",
        "category": "shoes",
        "description": "",
        "attributes": (),
        "price": 50.0,
        "segment_prices": {},
        "in_stock": True,
        "listed_s": 0,
        "units_sold": 0,
        "trending_score": 0.0,
        **fields,
    }
    return IndexRow(id=product_id, name=name, **values)


CATALOG = [
    row("p1", "Trail Running Shoe", brand="Acme", price=80.0, listed_s=3, units_sold=5,
        attributes=(("colour", "red"), ("size", "42")), trending_score=10.0),
    row("p2", "Road Running Shoe", brand="Bolt", price=60.0, listed_s=5, units_sold=9,
        attributes=(("colour", "blue"),), segment_prices={"gold": 20.0}, trending_score=12.0),
    row("p3", "Leather Boot", brand="Acme", price=120.0, listed_s=1, units_sold=1, in_stock=False,
        description="waterproof for trail walks", attributes=(("colour", "red"),)),
    row("p4", "Rain Jacket", brand="Cozy", category="jackets", price=95.0, listed_s=4,
        segment_prices={"gold": 200.0}, trending_score=11.0),
    row("p5", "Wool Socks", brand="Cozy", category="socks", price=9.0, listed_s=2, units_sold=30),
    row("p6", "Crème Sneaker", brand="Bolt", price=None, listed_s=6),
]  # fmt: skip


@pytest.fixture(scope="module")
def index() -> Iterator[TantivyIndex]:
    with indexed(CATALOG) as made:
        yield made


def ids(index: TantivyIndex, *words: str, **request: Any) -> list[str]:
    return index.search(SearchRequest(words=words, limit=50, **request)).ids


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (("running",), {"p1", "p2"}),
        (("runnng",), {"p1", "p2"}),  # one typo in a word of five letters or more
        # The last word is a prefix too: "shoe" also finds the category "shoes".
        (("shoe",), {"p1", "p2", "p3", "p6"}),
        (("shoo",), set()),  # no typo in a word of four letters
        (("sho",), {"p1", "p2", "p3", "p6"}),  # search as you type
        (("trail", "sho"), {"p1", "p3"}),  # every word must match
        (("sho", "trail"), set()),  # only the last word is a prefix
        (("shoes", "walks"), {"p3"}),
        (("acme",), {"p1", "p3"}),  # brand
        (("jackets",), {"p4"}),  # category
        (("waterproof",), {"p3"}),  # description
        (("blue",), {"p2"}),  # attribute value
        (("creme",), {"p6"}),  # folded accents (the query is analyzed like the index)
        (("lether", "boot"), {"p3"}),  # a typo in an earlier word
        (("xyzzy",), set()),
    ],
)
def test_matching(index: TantivyIndex, words: tuple[str, ...], expected: set[str]) -> None:
    assert set(ids(index, *words)) == expected


def test_name_and_brand_outrank_description(index: TantivyIndex) -> None:
    assert ids(index, "trail")[0] == "p1"  # p3 has "trail" in its description only


def test_exact_words_outrank_typos(index: TantivyIndex) -> None:
    index.put([row("t1", "Boots"), row("t2", "Booty")])
    index.commit()
    try:
        assert ids(index, "boots")[0] == "t1"
    finally:
        index.remove(["t1", "t2"])
        index.commit()


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(category="shoes"), {"p1", "p2", "p3", "p6"}),
        (Filters(brands=("Acme", "Cozy")), {"p1", "p3", "p4", "p5"}),
        (Filters(price_min=Decimal(60), price_max=Decimal(95)), {"p1", "p2", "p4"}),
        (Filters(price_max=Decimal("9.00")), {"p5"}),  # bounds are inclusive
        (Filters(in_stock=False), {"p3"}),
        (Filters(attributes=(AttributeFilter("colour", ("red", "blue")),)), {"p1", "p2", "p3"}),
        (
            Filters(
                attributes=(AttributeFilter("colour", ("red",)), AttributeFilter("size", ("42",)))
            ),
            {"p1"},
        ),
        (Filters(attributes=(AttributeFilter("material", ("steel",)),)), set()),
        (Filters(category="shoes", brands=("Bolt",), in_stock=True), {"p2", "p6"}),
    ],
)
def test_filters(index: TantivyIndex, filters: Filters, expected: set[str]) -> None:
    assert set(ids(index, filters=filters)) == expected


@pytest.mark.parametrize(
    ("sort", "segment", "expected"),
    [
        (SearchSort.PRICE_ASC, None, ["p5", "p2", "p1", "p4", "p3", "p6"]),
        (SearchSort.PRICE_DESC, None, ["p3", "p4", "p1", "p2", "p5", "p6"]),
        # Gold pays 20 for p2 and 200 for p4; products without a price come last.
        (SearchSort.PRICE_ASC, "gold", ["p5", "p2", "p1", "p3", "p4", "p6"]),
        (SearchSort.PRICE_DESC, "gold", ["p4", "p3", "p1", "p5", "p2", "p6"][:3]),
        (SearchSort.NEWEST, None, ["p6", "p2", "p4", "p1", "p5", "p3"]),
        (SearchSort.BESTSELLING, None, ["p5", "p2", "p1", "p3"]),
        (SearchSort.TRENDING, None, ["p2", "p4", "p1"]),
    ],
)
def test_sorts(
    index: TantivyIndex, sort: SearchSort, segment: str | None, expected: list[str]
) -> None:
    assert ids(index, sort=sort, segment=segment)[: len(expected)] == expected


def test_the_segment_price_filters(index: TantivyIndex) -> None:
    cheap = Filters(price_max=Decimal(30))
    assert set(ids(index, filters=cheap)) == {"p5"}
    assert set(ids(index, filters=cheap, segment="gold")) == {"p5", "p2"}
    dear = Filters(price_min=Decimal(150))
    assert set(ids(index, filters=dear, segment="gold")) == {"p4"}
    # A segment no product has a price for pays the base price.
    assert set(ids(index, filters=cheap, segment="platinum")) == {"p5"}


@pytest.mark.parametrize("sort", [SearchSort.PRICE_ASC, SearchSort.RELEVANCE, SearchSort.NEWEST])
@pytest.mark.parametrize("segment", [None, "gold"])
def test_pages_tile_the_result(index: TantivyIndex, sort: SearchSort, segment: str | None) -> None:
    whole = ids(index, sort=sort, segment=segment)
    pages = [
        index.search(SearchRequest(sort=sort, segment=segment, offset=o, limit=2))
        for o in (0, 2, 4)
    ]
    assert [i for page in pages for i in page.ids] == whole
    assert {page.total for page in pages} == {6}
    assert index.search(SearchRequest(limit=0)).ids == []


def facets_of(index: TantivyIndex, filters: Filters, segment: str | None = None) -> Any:
    ranges = [Decimal(50), Decimal(100)]
    return index.facets(SearchRequest(filters=filters, segment=segment), ranges, values=10)


def test_facets_are_disjunctive(index: TantivyIndex) -> None:
    found = facets_of(index, Filters(brands=("Acme",), category="shoes"))
    # Brands are counted without the brand filter: the other brands keep their counts.
    assert [(v.value, v.count) for v in found.brands] == [("Acme", 2), ("Bolt", 2)]
    # Categories are counted without the category filter, but with the brand filter.
    assert [(v.value, v.count) for v in found.categories] == [("shoes", 2)]
    assert found.in_stock == [(True, 1), (False, 1)]
    assert [(r.low, r.high, r.count) for r in found.price_ranges] == [
        (Decimal(50), Decimal(100), 1),
        (Decimal(100), None, 1),
    ]


def test_facets_without_filters_count_everything(index: TantivyIndex) -> None:
    found = facets_of(index, Filters())
    assert [(v.value, v.count) for v in found.brands] == [("Acme", 2), ("Bolt", 2), ("Cozy", 2)]
    assert [(v.value, v.count) for v in found.categories] == [
        ("shoes", 4),
        ("jackets", 1),
        ("socks", 1),
    ]
    assert sum(r.count for r in found.price_ranges) == 5  # p6 has no price


def test_price_facets_use_the_segment_price(index: TantivyIndex) -> None:
    found = facets_of(index, Filters(price_max=Decimal(10)), segment="gold")
    # The price facet ignores its own filter; gold pays 20 for p2 and 200 for p4.
    assert [(r.low, r.high, r.count) for r in found.price_ranges] == [
        (None, Decimal(50), 2),
        (Decimal(50), Decimal(100), 1),
        (Decimal(100), None, 2),
    ]
    # The other facets keep the price filter, at the segment's price.
    assert [(v.value, v.count) for v in found.brands] == [("Cozy", 1)]


def test_suggestions_and_trending(index: TantivyIndex) -> None:
    assert set(index.suggest(["run"], 8)) == {"p1", "p2"}
    assert index.suggest(["bol"], 1) == ["p2"] or index.suggest(["bol"], 1) == ["p6"]
    assert index.trending(None, 10) == ["p2", "p4", "p1"]
    assert index.trending("shoes", 10) == ["p2", "p1"]
    assert index.trending("none-such", 10) == []


def test_a_replaced_row_is_found_by_its_new_text_only() -> None:
    index = TantivyIndex(writer_memory_mb=16)
    try:
        index.put([row("a", "Blue Kettle")])
        index.commit()
        index.put([row("a", "Green Teapot")])
        index.commit()
        assert ids(index, "kettle") == []
        assert ids(index, "teapot") == ["a"]
        assert index.count() == 1
        index.remove(["a", "never-indexed"])
        index.commit()
        assert index.count() == 0
    finally:
        index.close()
    assert not index.directory.exists()
