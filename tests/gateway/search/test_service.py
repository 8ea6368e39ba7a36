"""What a client may send a search: bounded, checked, and never an engine failure."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopwindow.gateway.errors import UserInputError
from shopwindow.gateway.search.engine import (
    AttributeFilter,
    Filters,
    SearchRequest,
    SearchSort,
)
from shopwindow.gateway.search.service import (
    SearchLimits,
    SearchService,
    check_filters,
    encode_position,
    offset_after,
)
from tests.fuzz import SCALE
from tests.gateway.search.conftest import indexed
from tests.gateway.search.test_tantivy_index import CATALOG


@pytest.fixture(scope="module")
def service() -> Iterator[SearchService]:
    with indexed(CATALOG) as index:
        yield SearchService(index, SearchLimits(max_query_chars=256, max_words=16, max_offset=100))


@pytest.mark.parametrize(
    "text",
    [
        'name:shoe AND (brand:"Acme" OR *) -boot +x~2 ^3 [1 TO 5] {a} \\ / ? ! " \'',
        "shoe*",
        "   ",
        "\x00\x01\u202e\ufeff",
        "🥾" * 20,
        "a" * 256,
    ],
    ids=["syntax", "wildcard", "blank", "controls", "emoji", "longest-word"],
)
async def test_query_syntax_is_just_text(service: SearchService, text: str) -> None:
    page = await service.search(SearchRequest(words=service.words(text)))
    assert page.total >= 0


@pytest.mark.parametrize(
    ("text", "message"),
    [("x" * 10_240, "longer than 256"), (" ".join("w" * 17), "more than 16 words")],
    ids=["10kB", "many-words"],
)
def test_oversized_queries_are_refused(service: SearchService, text: str, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        service.words(text)


async def test_an_empty_query_browses(service: SearchService) -> None:
    assert service.words("") == service.words(None) == ()
    assert (await service.search(SearchRequest(words=service.words("")))).total == 6


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (Filters(price_min=Decimal(10), price_max=Decimal(5)), "priceMin is above priceMax"),
        (Filters(price_min=Decimal("NaN")), "finite"),
        (Filters(price_max=Decimal("-Infinity")), "finite"),
        (Filters(brands=tuple(str(i) for i in range(101))), "At most 100"),
        (Filters(attributes=(AttributeFilter("c", tuple("x" * 101)),)), "At most 100"),
        (Filters(category="c" * 257), "at most 256"),
    ],
)
def test_bad_filters_are_refused(filters: Filters, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        check_filters(filters)


async def test_extreme_but_valid_filters_find_nothing(service: SearchService) -> None:
    for filters in [
        Filters(price_min=Decimal("1e400")),
        Filters(price_max=Decimal("-1e400")),
        Filters(attributes=(AttributeFilter("", ("",)),)),
        Filters(brands=("\x00",), category=""),
    ]:
        assert (await service.search(SearchRequest(filters=filters))).total == 0


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        base64.urlsafe_b64encode(b"sws1:").decode(),
        base64.urlsafe_b64encode(b"sws1:-1").decode(),
        base64.urlsafe_b64encode(b"sws1:99999999999999").decode(),
        base64.urlsafe_b64encode(b"sw1:abc").decode(),
        base64.urlsafe_b64encode("sws1:١٢".encode()).decode(),  # non-ASCII digits
    ],
)
def test_foreign_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(UserInputError, match="Invalid cursor"):
        offset_after(cursor)


def test_paging_is_bounded(service: SearchService) -> None:
    assert service.page(20, encode_position(79)) == (80, 20)
    with pytest.raises(UserInputError, match="beyond 100"):
        service.page(20, encode_position(100))
    with pytest.raises(UserInputError, match="between 0 and 100"):
        service.page(101, None)
    with pytest.raises(UserInputError, match="between 0 and 100"):
        service.page(-1, None)


TEXT = st.text(st.characters(codec="utf-8"), max_size=300)
DECIMALS = st.none() | st.decimals(allow_nan=True, allow_infinity=True)
FILTERS = st.builds(
    Filters,
    category=st.none() | TEXT,
    brands=st.lists(TEXT, max_size=5).map(tuple),
    price_min=DECIMALS,
    price_max=DECIMALS,
    in_stock=st.none() | st.booleans(),
    attributes=st.lists(
        st.builds(AttributeFilter, TEXT, st.lists(TEXT, max_size=3).map(tuple)), max_size=3
    ).map(tuple),
)


@settings(
    max_examples=150 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    text=TEXT,
    filters=FILTERS,
    sort=st.sampled_from(SearchSort),
    segment=st.none() | st.sampled_from(["gold", "platinum", ""]),
)
async def test_any_request_is_answered_or_refused_cleanly(
    service: SearchService, text: str, filters: Filters, sort: SearchSort, segment: str | None
) -> None:
    try:
        request = SearchRequest(
            words=service.words(text), filters=filters, sort=sort, segment=segment
        )
        page = await service.search(request)
        facets = await service.facets(request)
        suggested = await service.suggest(text, 8)
    except UserInputError:
        return
    assert len(page.ids) <= page.total
    assert all(v.count > 0 for v in facets.brands)
    assert len(suggested) <= 8
