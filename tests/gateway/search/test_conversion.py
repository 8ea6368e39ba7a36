"""Changelog records to index rows: the newest per product, and bad records out."""

from __future__ import annotations

from typing import Any

import orjson

from shopwindow.gateway.search.conversion import changes_of
from tests.gateway.search.test_feed import announced
from tests.materializer.test_market_prices import NOW


def test_the_newest_record_of_a_product_wins() -> None:
    key, first = announced("a", "Kettle")
    _, second = announced("a", "Teapot")
    changes = changes_of([(key, first, 0), (key, second, 1)], NOW)
    row = changes.rows["a"]
    assert row is not None and row.name == "Teapot"


def test_a_tombstone_takes_the_product_out() -> None:
    key, value = announced("a", "Kettle")
    assert changes_of([(key, value, 0), (key, None, 1)], NOW).rows == {"a": None}


def test_records_without_a_key_are_skipped() -> None:
    _, value = announced("a", "Kettle")
    assert changes_of([(None, value, 0)], NOW).rows == {}


def test_unreadable_records_take_their_product_out_with_the_reason() -> None:
    worst = [
        b"",
        b"\xff\xfe",
        b"[]",
        b'{"_id": "a"}',
        b'{"_id": "a", "version": 1, "schema_version": 99}',
        b'{"_id": "a", "version": 1, "visible": true, "catalog": {"name": 5}}',
        b'{"_id": "a", "version": "1"}',
        b"9" * 5000,
        # Shapes that make the typed views raise what a reader does not expect.
        _with_price({"currency": "EUR", "amount": None}),
        _with_price({"currency": "EUR", "amount": "1", "segment_amounts": ["gold"]}),
    ]
    for offset, value in enumerate(worst):
        changes = changes_of([(b"a", value, offset)], NOW)
        assert changes.rows == {"a": None}, value
        [(product_id, at, reason)] = changes.unreadable
        assert (product_id, at) == ("a", offset) and reason


def _with_price(section: dict[str, Any]) -> bytes:
    _, value = announced("a", "Kettle")
    return orjson.dumps(orjson.loads(value) | {"price": section})
