"""Property: nothing a producer sends can crash the materializer.

Any bytes, and any JSON shaped like our events with hostile values, either decode to an
event whose document MongoDB can store, or are refused as poison with a reason.
"""

from __future__ import annotations

import json
from typing import Any

import bson
from hypothesis import given, settings
from hypothesis import strategies as st

from shopwindow.materializer.decode import PoisonEvent, decode_record
from shopwindow.materializer.events import Position
from shopwindow.materializer.fold import FoldSettings, fold
from shopwindow.materializer.sources.base import SourceTopic
from shopwindow.mongo import CODEC_OPTIONS
from tests import kinds
from tests.materializer.conftest import catalog, click, delta, order, price, review, stock_take

FIELDS = [
    "product_id",
    "name",
    "description",
    "brand",
    "category",
    "images",
    "attributes",
    "updated_at",
    "currency",
    "amount",
    "list_amount",
    "segment_amounts",
    "quantity_change",
    "quantity",
    "timestamp",
    "order_id",
    "user_id",
    "product_ids",
    "review_id",
    "rating",
    "deleted",
    "translations",
]

# Values at the edges of what JSON, Python and BSON can hold.
EDGES = [
    2**63,
    -(2**63) - 1,
    2**31,
    10**30,
    1e308,
    5e-324,
    "9" * 40,
    1.5,
    -1,
    0,
    True,
    "\x00",
    "\ud800",
    253402300800000,
]

scalars = st.one_of(
    st.sampled_from(EDGES),
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(
        [
            "2024-06-18T12:00:00Z",
            "9999-12-31T23:59:59Z",
            "9999-12-31T23:59:59-01:00",
            "0001-01-01T00:00:00+01:00",
            "abc",
            "",
            "0.1",
            "1e400",
        ]
    ),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
VALID: dict[SourceTopic, list[dict[str, Any]]] = {
    kinds.CATALOG: [
        catalog(images=["i"], attributes={"a": 1}, brand="b", category="c"),
        catalog(translations={"de": {"name": "n", "description": "d"}, "pt-BR": {"name": "p"}}),
    ],
    kinds.PRICES: [price(list_amount="2", segment_amounts={"gold": "1"})],
    kinds.INVENTORY: [delta(-1), stock_take(5)],
    kinds.ORDERS: [order("o1", "abc")],
    kinds.CLICKS: [click()],
    kinds.REVIEWS: [review("r1", 4)],
}


@st.composite
def event_like(draw: st.DrawFn, kind: SourceTopic) -> dict[str, Any]:
    """A valid event of ``kind`` with one to three fields replaced by hostile values."""
    data = dict(draw(st.sampled_from(VALID[kind])))
    for field in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3)):
        data[field] = draw(json_values)
    return data


def storable(kind: SourceTopic, key: bytes | None, value: bytes | None) -> None:
    try:
        decoded = decode_record(kind, key, value)
    except PoisonEvent as poison:
        assert poison.reason
        return
    for product_id in kind.product_ids(decoded.event):
        sourced = kinds.sourced_event(kind, decoded.event, Position("t.x", 0, 1), decoded.event_id)
        document = fold(None, product_id, [sourced], FoldSettings()).document
        if document is not None:
            bson.encode(document, codec_options=CODEC_OPTIONS)


@settings(max_examples=400, deadline=None)
@given(
    kind=st.sampled_from(list(kinds.ALL)),
    key=st.binary(max_size=8) | st.none(),
    value=st.binary(max_size=64) | st.none(),
)
def test_any_bytes_are_an_event_or_poison(
    kind: SourceTopic, key: bytes | None, value: bytes | None
) -> None:
    storable(kind, key, value)


@settings(max_examples=1500, deadline=None)
@given(
    kind=st.sampled_from(list(kinds.ALL)),
    envelope=st.sampled_from(["plain", "debezium", "outbox"]),
    draw=st.data(),
)
def test_hostile_event_values_are_stored_or_refused(
    kind: SourceTopic, envelope: str, draw: st.DataObject
) -> None:
    data = draw.draw(event_like(kind))
    if envelope == "debezium":
        ts_ms = draw.draw(st.sampled_from([1, 253402300800000, 2**63, -(2**63)]))
        payload: Any = {"before": None, "after": data, "op": "u", "ts_ms": ts_ms}
    elif envelope == "outbox":
        payload = json.dumps(data)
    else:
        payload = data
    storable(kind, b"abc", json.dumps(payload).encode())


def test_deeply_nested_json_is_poison() -> None:
    storable(kinds.CATALOG, b"abc", b"[" * 100_000 + b"]" * 100_000)
