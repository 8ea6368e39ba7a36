"""The response cache on its own: an answer holds while every product it read does."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from graphql import OperationDefinitionNode, parse

from shopwindow.clock import Clock, ManualClock, SystemClock
from shopwindow.gateway.execution.plan import ExecutionPlan
from shopwindow.gateway.metrics import GatewayMetrics
from shopwindow.gateway.reads.document_cache import DocumentCache, ReaderState
from shopwindow.gateway.schema.build import build_schema
from shopwindow.gateway.transport.response_cache import (
    CachedResponse,
    Kept,
    ResponseCache,
    document_fields,
)
from tests.gateway.reads.test_document_cache import doc

SCHEMA = build_schema()._schema
KEY = ("hash", None, b'{"id":"a"}', None)


class Current:
    def __init__(self) -> None:
        self.value = True
        self.lag = 7

    def __call__(self) -> ReaderState:
        return ReaderState(self.value, self.lag)


def responses(
    max_bytes: int = 10_000, clock: Clock | None = None
) -> tuple[ResponseCache, DocumentCache, Current, Any]:
    metrics = GatewayMetrics()
    documents = DocumentCache(10_000, metrics)
    current = Current()
    clock = clock or SystemClock()
    cache = ResponseCache(max_bytes, documents, current, document_fields(SCHEMA), metrics, clock)
    return cache, documents, current, metrics


def entry(data: bytes = b'{"product":{"id":"a"}}', *versions: tuple[str, int]) -> CachedResponse:
    return CachedResponse(data, 'W/"t"', versions or (("a", 1),), None)


def plan(text: str) -> ExecutionPlan:
    [operation] = parse(text).definitions
    assert isinstance(operation, OperationDefinitionNode)
    return ExecutionPlan(SCHEMA, operation, {})


@pytest.mark.parametrize(
    ("text", "covered"),
    [
        ('{ product(id: "a") { id name price { amount } stock { status } } }', True),
        ('{ products(ids: ["a", "b"]) { id rating { average } } __typename }', True),
        ('{ productsByCategory(category: "x") { edges { node { id } } } }', False),
        ('{ product(id: "a", after: []) { id } }', False),
        ("query($a: [SourcePositionInput!]) { products(ids: [], after: $a) { id } }", False),
    ],
)
def test_only_reads_of_products_by_id_are_kept(text: str, covered: bool) -> None:
    cache, *_ = responses()
    assert cache.covers(plan(text)) is covered
    off, *_ = responses(max_bytes=0)
    assert not off.covers(plan(text))
    assert not cache.covers(None)


def test_an_answer_holds_while_its_products_are_unchanged_and_the_reader_current() -> None:
    cache, documents, current, metrics = responses()
    documents.put(doc("a", 1), 10)
    documents.put(doc("b", 4), 10)
    kept = entry(b"{}", ("a", 1), ("b", 4))
    cache.put(KEY, {"a": 1, "b": 4}, lambda: kept)
    assert cache.get(KEY) == Kept(kept, 7)
    current.value = False
    assert cache.get(KEY) is None  # Not trusted while the reader is not current...
    current.value = True
    assert cache.get(KEY) is None  # ...and dropped.
    cache.put(KEY, {"a": 1, "b": 4}, lambda: kept)
    documents.put(doc("b", 5), 10)
    assert cache.get(KEY) is None
    cache.put(KEY, {"a": 1, "b": 4}, lambda: kept)
    documents.gone("a", 2)
    assert cache.get(KEY) is None
    samples = {
        result: metrics.registry.get_sample_value(
            "shopwindow_response_cache_lookups_total", {"result": result}
        )
        for result in ("hit", "miss", "stale")
    }
    assert samples == {"hit": 1, "miss": 1, "stale": 3}


async def test_an_answer_is_not_served_from_the_next_price_boundary_on() -> None:
    boundary = datetime(2026, 12, 4, 9, tzinfo=UTC)
    clock = ManualClock(boundary - timedelta(seconds=1))
    cache, documents, _, _ = responses(clock=clock)
    documents.put(doc("a", 1), 10)
    kept = replace(entry(b"{}", ("a", 1)), until=boundary)
    cache.put(KEY, {"a": 1}, lambda: kept)
    assert cache.get(KEY) == Kept(kept, 7)
    await clock.advance(timedelta(seconds=1))
    assert cache.get(KEY) is None


def test_answers_that_cannot_be_checked_later_are_not_kept() -> None:
    cache, documents, current, _ = responses()
    documents.put(doc("a", 1), 10)
    cache.put(KEY, {"a": 1, "missing": None}, lambda: entry())  # A product not found.
    cache.put(("other", None, b"", None), {}, lambda: entry())  # Nothing read.
    assert cache.get(KEY) is None and cache.get(("other", None, b"", None)) is None
    current.value = False
    cache.put(KEY, {"a": 1}, lambda: entry())
    current.value = True
    assert cache.get(KEY) is None
    # A product read from MongoDB that the document cache did not keep: never a hit.
    cache.put(KEY, {"c": 1}, lambda: entry(b"{}", ("c", 1)))
    assert cache.get(KEY) is None


def test_the_bytes_are_bounded_least_recently_used_first_out() -> None:
    cache, documents, _, metrics = responses(max_bytes=1100)
    documents.put(doc("a", 1), 10)
    keys = [("h", None, str(n).encode(), None) for n in range(4)]
    for key in keys[:3]:
        cache.put(key, {"a": 1}, lambda: entry(b"x" * 100))
    assert cache.get(keys[0]) is not None  # Now the most recently used.
    cache.put(keys[3], {"a": 1}, lambda: entry(b"x" * 100))
    assert [cache.get(k) is not None for k in keys] == [True, False, True, True]
    assert metrics.registry.get_sample_value("shopwindow_response_cache_bytes") <= 1100
    cache.put(keys[0], {"a": 1}, lambda: entry(b"x" * 10_000))  # Cannot fit at all.
    assert cache.get(keys[0]) is not None  # The kept one stays.
