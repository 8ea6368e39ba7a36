"""Building a batch: every record becomes an event or a dead letter, never an exception."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from shopwindow.materializer.batch import build_batch
from shopwindow.materializer.sources import CORE
from tests import kinds
from tests.materializer.conftest import T0, catalog, price

ROUTES = {
    "catalog": (CORE.source_of(kinds.CATALOG), kinds.CATALOG),
    "prices": (CORE.source_of(kinds.PRICES), kinds.PRICES),
}
T0_MS = int(T0.timestamp() * 1000)
MINUTE_MS = 60_000


@dataclass
class Record:
    topic: str
    value: bytes | None
    timestamp: int = T0_MS
    partition: int = 0
    offset: int = 0
    key: bytes | None = b"abc"
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def raw(value: object) -> bytes:
    return json.dumps(value).encode()


CASES: list[tuple[str, Record, str | None]] = [
    ("a plain snapshot", Record("catalog", raw(catalog())), None),
    ("an unknown topic", Record("elsewhere", raw(catalog())), "KeyError"),
    ("invalid JSON", Record("catalog", b"{"), "invalid JSON"),
    ("event time within the skew", Record("prices", raw(price()), T0_MS - 4 * MINUTE_MS), None),
    (
        "event time beyond the skew",
        Record("prices", raw(price()), T0_MS - 6 * MINUTE_MS),
        "ahead of the record's timestamp",
    ),
    (
        "an event dated 9999",
        Record("prices", raw(price(updated_at="9999-12-31T00:00:00Z"))),
        "ahead of the record's timestamp",
    ),
    ("a record without a timestamp", Record("prices", raw(price()), -1), None),
    ("a record stamped at the end of int64", Record("prices", raw(price()), 2**63 - 1), None),
    ("a deletion without a time of its own", Record("catalog", None), None),
]


@pytest.mark.parametrize(("record", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_record_is_an_event_or_a_dead_letter(record: Record, reason: str | None) -> None:
    batch = build_batch([record], ROUTES, timedelta(minutes=5))
    assert batch.next_offsets == {(record.topic, 0): 1}
    if reason is None:
        assert not batch.dead_letters and list(batch.events_by_product) == ["abc"]
    else:
        assert not batch.events_by_product
        (letter,) = batch.dead_letters
        assert reason in letter.reason
        assert (letter.key, letter.value) == (record.key, record.value)
