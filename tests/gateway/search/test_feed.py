"""The search feed against a real broker: built from the changelog's start, ready only
once caught up, resuming after a broker failure."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

import pytest
from aiokafka import AIOKafkaProducer

from shopwindow.clock import Clock, ManualClock
from shopwindow.devstack import DevStack
from shopwindow.gateway.metrics import GatewayMetrics
from shopwindow.gateway.search.engine import Filters, SearchRequest
from shopwindow.gateway.search.feed import SearchFeed
from shopwindow.gateway.search.tantivy_index import TantivyIndex
from shopwindow.kafka_clients import KafkaConnection
from shopwindow.materializer.decode import decode_record
from shopwindow.materializer.events import Position
from shopwindow.materializer.fold import FoldSettings, fold
from shopwindow.materializer.publishing import changelog_record
from shopwindow.materializer.sources import CORE
from shopwindow.topics import TopicNames
from tests import kinds
from tests.gateway.changelog_source import fail_changelog_fetch_once
from tests.helpers import encode, eventually
from tests.materializer.conftest import T0, at, catalog, price


def announced(product_id: str, name: str) -> tuple[bytes, bytes]:
    """The changelog record the materializer writes for a cataloged product."""
    value = catalog(product_id, name=name)
    decoded = decode_record(kinds.CATALOG, product_id.encode(), encode(value))
    event = kinds.sourced_event(kinds.CATALOG, decoded.event, Position("catalog", 0, 0))
    doc = fold(None, product_id, [event], FoldSettings()).document
    assert doc is not None
    record = changelog_record("changes", product_id, doc, CORE.sections)
    assert record.key is not None and record.value is not None
    return record.key, record.value


async def produce(
    stack: DevStack, topic: str, records: Sequence[tuple[bytes, bytes | None]]
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers,
        enable_idempotence=False,  # The Tansu stand-in refuses idempotent producers.
        linger_ms=5,
    )
    await producer.start()
    try:
        sent = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def new_feed(
    stack: DevStack,
    topics: TopicNames,
    index: TantivyIndex,
    metrics: GatewayMetrics | None = None,
    clock: Clock | None = None,
) -> SearchFeed:
    """A feed of this test's changelog into ``index``, committing every 50 ms."""
    return SearchFeed(
        KafkaConnection(stack.kafka_bootstrap_servers),
        topics.changelog,
        index,
        50,
        metrics or GatewayMetrics(),
        clock=clock,
    )


async def test_ready_only_once_everything_before_start_is_searchable(
    stack: DevStack, topics: TopicNames
) -> None:
    products = 3000
    records: list[tuple[bytes, bytes | None]] = [
        announced(f"p{n}", f"Kettle {n}") for n in range(products)
    ]
    # A later version of p0 and a tombstone of p1: the newest state wins.
    records.append(announced("p0", "Teapot"))
    records.append((b"p1", None))
    await produce(stack, topics.changelog, records)
    index = TantivyIndex(writer_memory_mb=16)
    metrics = GatewayMetrics()
    feed = new_feed(stack, topics, index, metrics)
    await feed.start()
    try:
        seen_not_ready = False
        while not feed.ready:
            seen_not_ready = True
            await asyncio.sleep(0.005)
        # Ready means caught up: nothing announced before the start is missing.
        assert index.count() == products - 1
        assert seen_not_ready
        assert index.search(SearchRequest(words=("teapot",))).ids == ["p0"]
        assert index.search(SearchRequest(words=("kettle",), limit=0)).total == products - 2
        assert metrics.search_index_build_seconds._value.get() > 0
    finally:
        await feed.stop()
    assert not index.directory.exists()


async def test_the_feed_resumes_after_a_broker_failure(
    stack: DevStack,
    topics: TopicNames,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = TantivyIndex(writer_memory_mb=16)
    feed = new_feed(stack, topics, index)
    await produce(stack, topics.changelog, [announced("a", "Kettle")])
    await feed.start()
    try:
        await eventually(lambda: asyncio.sleep(0, feed.ready), bool)
        failed = fail_changelog_fetch_once(monkeypatch, client_id="shopwindow-gateway-search")
        await produce(stack, topics.changelog, [announced("b", "Kettle")])
        await eventually(lambda: asyncio.sleep(0, index.count()), lambda n: n == 2)
        assert failed == [True]
        assert sorted(index.search(SearchRequest(words=("kettle",))).ids) == ["a", "b"]
    finally:
        await feed.stop()


async def test_a_poisoned_changelog_does_not_stall_the_feed(
    stack: DevStack, topics: TopicNames, caplog: pytest.LogCaptureFixture
) -> None:
    huge_brand = announced("huge", "Kettle")[1].replace(
        b'"brand":null', b'"brand":"' + b"b" * 70_000 + b'"'
    )
    poison: list[tuple[bytes, bytes | None]] = [
        (b"junk", b"\xff not json"),
        (b"typed", b'{"_id":"typed","version":1,"visible":true,"catalog":{"name":5}}'),
        (b"newer", b'{"_id":"newer","version":1,"schema_version":99,"visible":true}'),
        (b"huge", huge_brand),
        announced("good", "Kettle"),
    ]
    await produce(stack, topics.changelog, poison)
    index = TantivyIndex(writer_memory_mb=16)
    feed = new_feed(stack, topics, index)
    await feed.start()
    try:
        await eventually(lambda: asyncio.sleep(0, feed.ready), bool)
        found = set(index.search(SearchRequest(words=("kettle",))).ids)
    finally:
        await feed.stop()
    assert "good" in found and not {"junk", "typed", "newer"} & found
    assert not [r for r in caplog.records if "restarting" in r.getMessage()]


def on_sale() -> tuple[bytes, bytes]:
    """A product at 20, on sale at 15 from T0 + 2 h until T0 + 3 h."""
    values = [
        (kinds.CATALOG, catalog("sale", name="Kettle")),
        (kinds.PRICES, price("sale", "20.00")),
        (kinds.PRICES, price("sale", "15.00", minutes=1, valid_from=at(120), valid_until=at(180))),
    ]
    events = [
        kinds.sourced_event(
            kind,
            decode_record(kind, b"sale", encode(value)).event,
            Position(kind.setting, 0, offset),
        )
        for offset, (kind, value) in enumerate(values)
    ]
    doc = fold(None, "sale", events, FoldSettings()).document
    assert doc is not None
    record = changelog_record("changes", "sale", doc, CORE.sections)
    assert record.key is not None and record.value is not None
    return record.key, record.value


async def test_a_product_is_indexed_again_when_its_scheduled_price_begins_and_ends(
    stack: DevStack, topics: TopicNames
) -> None:
    clock = ManualClock(T0 + timedelta(hours=1))
    index = TantivyIndex(writer_memory_mb=16)
    feed = new_feed(stack, topics, index, clock=clock)
    await produce(stack, topics.changelog, [on_sale()])
    cheap = SearchRequest(filters=Filters(price_max=Decimal(16)))
    await feed.start()
    try:
        await eventually(lambda: asyncio.sleep(0, feed.ready), bool)
        assert index.search(cheap).ids == []
        await clock.advance(timedelta(hours=1))
        await eventually(lambda: asyncio.sleep(0, index.search(cheap).ids), bool)
        await clock.advance(timedelta(hours=1))
        await eventually(lambda: asyncio.sleep(0, index.search(cheap).ids), lambda ids: not ids)
    finally:
        await feed.stop()
