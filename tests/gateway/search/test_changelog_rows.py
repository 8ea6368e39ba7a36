"""The fast reader of changelog documents against the typed views, its reference."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopwindow.document import SCHEMA_VERSION
from shopwindow.gateway.search.changelog_rows import row_of_changelog_document
from shopwindow.gateway.search.rows import IndexRow, Locales, row_of
from shopwindow.materializer.decode import decode_record
from shopwindow.materializer.events import Position
from shopwindow.materializer.fold import FoldSettings, fold
from shopwindow.materializer.publishing import changelog_record
from shopwindow.materializer.sources import CORE
from shopwindow.materializer.sources.base import SourceTopic
from shopwindow.sale_product import read_sale_product
from tests import kinds
from tests.helpers import encode
from tests.materializer.conftest import catalog, click, delta, order, price

Read = Callable[[dict[str, Any]], IndexRow | None]


def announced(*events: tuple[SourceTopic, dict[str, Any] | None]) -> dict[str, Any]:
    """The parsed changelog document the materializer announces after ``events``."""
    sourced = []
    for offset, (topic, value) in enumerate(events):
        decoded = decode_record(topic, b"p1", None if value is None else encode(value))
        position = Position(topic.default_name, 0, offset)
        sourced.append(kinds.sourced_event(topic, decoded.event, position, decoded.event_id))
    doc = fold(None, "p1", sourced, FoldSettings()).document
    assert doc is not None
    announced_value = changelog_record("changes", "p1", doc, CORE.sections).value
    assert announced_value is not None
    parsed: dict[str, Any] = orjson.loads(announced_value)
    return parsed


LISTED = catalog(
    "p1",
    name="Trail shoe",
    brand="Acme",
    category="shoes",
    description="For wet trails.",
    created_at="2024-01-02T03:04:05Z",
    attributes={"colour": "red", "size": 42, "vegan": True, "weight": 0.3, "sole": None},
)
DOCUMENTS = {
    "cataloged only": announced((kinds.CATALOG, catalog("p1"))),
    "everything": announced(
        (kinds.CATALOG, LISTED),
        (kinds.PRICES, price("p1", "19.99", list_amount="25.00", segment_amounts={"gold": "17.5"})),
        (kinds.INVENTORY, delta(3, "p1")),
        (kinds.ORDERS, order("o1", "p1")),
        (kinds.CLICKS, click("p1")),
    ),
    "sold out": announced((kinds.CATALOG, LISTED), (kinds.INVENTORY, delta(-2, "p1"))),
}
# Hidden products are announced as tombstones; a document saying so is read all the same.
DOCUMENTS["hidden"] = DOCUMENTS["everything"] | {"visible": False}


# Both readers index two more markets (ch falls back to the default market, us does
# not) and two languages.
LOCALES = Locales({"ch": ("ch", None), "us": ("us",)}, ("de", "fr"))


def typed(doc: dict[str, Any]) -> IndexRow | None:
    return row_of(read_sale_product(doc), datetime.now(UTC), LOCALES)


def fast_reader(doc: dict[str, Any]) -> IndexRow | None:
    return row_of_changelog_document(doc, LOCALES)


REFUSED = "refused"


def outcome(read: Read, doc: dict[str, Any]) -> str:
    """What ``read`` makes of a copy of ``doc``, comparable even with NaN inside."""
    try:
        return repr(read(copy.deepcopy(doc)))
    except Exception:
        return REFUSED


@pytest.mark.parametrize("name", DOCUMENTS)
def test_documents_the_materializer_writes_are_read_fast_and_the_same(name: str) -> None:
    doc = DOCUMENTS[name]
    assert fast_reader(copy.deepcopy(doc)) == typed(doc)


def test_the_documents_cover_what_the_index_keeps() -> None:
    row = row_of_changelog_document(DOCUMENTS["everything"])
    assert row is not None
    assert (row.brand, row.category, row.in_stock, row.units_sold) == ("Acme", "shoes", True, 1)
    assert row.segment_prices == {"gold": 17.5} and row.price == 19.99
    assert ("vegan", "true") in row.attributes and ("sole", "") in row.attributes
    assert row.listed_s > 0 and row.trending_score > 0
    assert row_of_changelog_document(DOCUMENTS["hidden"]) is None


@pytest.mark.parametrize(
    "version",
    [
        1,
        SCHEMA_VERSION - 1,
        SCHEMA_VERSION + 1,
        str(SCHEMA_VERSION),
        float(SCHEMA_VERSION),
        True,
        None,
    ],
)
def test_other_contracts_are_left_to_the_typed_views(version: object) -> None:
    doc = copy.deepcopy(DOCUMENTS["everything"]) | {"schema_version": version}
    with pytest.raises(Exception):  # noqa: B017 - any refusal sends it the typed way.
        row_of_changelog_document(doc)


HOSTILE: list[Any] = [
    None, True, False, 0, -1, 2**64, 1.5, "", "x", "NaN", "sNaN", "-Infinity",
    "1e99999999999999999999", "0x10", "2024-13-40", "2024-06-18T12:00:00Z", "IN_STOCK",
    "gold", [], [{}], [1, "a"], [{"name": 1, "value": 2}], [{"name": "a"}], {}, {"a": 1},
    {"name": "n", "amount": "1", "currency": "EUR", "views": 1, "orders": 1,
     "available": 1, "status": "LOW_STOCK"},
]  # fmt: skip
HOSTILE_VALUES = st.sampled_from(HOSTILE) | st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if path else []
    if isinstance(value, dict | list):
        for key, child in value.items() if isinstance(value, dict) else enumerate(value):
            found += _paths(child, (*path, key))
    return found


DELETED = object()


def _mutated(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A copy of ``doc`` with ``value`` at ``path``, or without ``path`` for ``DELETED``."""
    changed = copy.deepcopy(doc)
    *parents, last = path
    parent = changed
    for key in parents:
        parent = parent[key]
    if value is DELETED:
        del parent[last]
    else:
        parent[last] = copy.deepcopy(value)
    return changed


def test_every_hostile_value_anywhere_is_read_the_same_by_both() -> None:
    doc = DOCUMENTS["everything"]
    checked = 0
    for path in _paths(doc):
        for value in [*HOSTILE, DELETED]:
            if value is DELETED and isinstance(path[-1], int):
                continue
            changed = _mutated(doc, path, value)
            fast = outcome(fast_reader, changed)
            if fast != REFUSED:
                assert outcome(typed, changed) == fast, (path, value)
                checked += 1
    assert checked > 500  # Most changes are read, not refused: the comparison ran.


@st.composite
def hostile_documents(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = draw(st.sampled_from(list(DOCUMENTS.values())))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        deletable = not isinstance(path[-1], int)
        value = DELETED if deletable and draw(st.booleans()) else draw(HOSTILE_VALUES)
        doc = _mutated(doc, path, value)
    return doc


@settings(max_examples=600, deadline=None)
@given(hostile_documents())
def test_whatever_the_fast_reader_reads_the_typed_views_read_the_same(
    doc: dict[str, Any],
) -> None:
    fast = outcome(fast_reader, doc)
    if fast != REFUSED:
        assert outcome(typed, doc) == fast
