"""Hostile records on every source topic go through the real consume loop: the process
stays up, and every record is applied or dead-lettered, nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from hypothesis import strategies as st

from shopwindow.materializer.batch import build_batch
from shopwindow.materializer.service import Materializer
from shopwindow.materializer.sources import CORE
from shopwindow.materializer.sources.base import SourceTopic
from tests import kinds
from tests.fuzz import SCALE, drawn
from tests.helpers import consume_all, eventually
from tests.materializer.conftest import World
from tests.materializer.test_decode_properties import event_like, json_values

EXAMPLES = 4 * SCALE


@dataclass
class Produced:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@st.composite
def values(draw: st.DrawFn, kind: SourceTopic) -> bytes | None:
    """Anything a buggy or hostile producer could put in a record's value."""
    shape = draw(st.sampled_from(["bytes", "json", "plain", "debezium", "outbox", "none"]))
    if shape == "bytes":
        return draw(st.binary(max_size=64))
    if shape == "none":
        return None
    if shape == "json":
        return json.dumps(draw(json_values)).encode()
    data = draw(event_like(kind))
    if shape == "debezium":
        op = draw(st.sampled_from(["c", "u", "r", "d", "x"]))
        ts_ms = draw(st.sampled_from([1, 253402300800000, 2**63]) | st.integers())
        payload: Any = {"before": data, "after": data, "op": op, "ts_ms": ts_ms}
        return json.dumps(payload).encode()
    if shape == "outbox":
        return json.dumps(json.dumps(data)).encode()
    return json.dumps(data).encode()


@st.composite
def records(draw: st.DrawFn) -> tuple[SourceTopic, bytes | None, bytes | None, list[Any]]:
    kind = draw(st.sampled_from(list(kinds.ALL)))
    key = draw(st.none() | st.binary(max_size=8) | st.just(b"abc"))
    headers = draw(
        st.lists(
            st.tuples(st.sampled_from(["id", "trace", "x"]), st.binary(max_size=8)), max_size=2
        )
    )
    value = draw(values(kind))
    if key is None and value is None:
        key = b"abc"  # Kafka clients refuse a record with neither.
    return kind, key, value, headers


async def produce_all(world: World, drawn: list[Any]) -> list[Produced]:
    topic_of = {kind: kind.name_in(world.topics) for kind in kinds.ALL}
    producer = AIOKafkaProducer(
        bootstrap_servers=world.stack.kafka_bootstrap_servers, enable_idempotence=False
    )
    await producer.start()
    produced = []
    try:
        for kind, key, value, headers in drawn:
            meta = await producer.send_and_wait(topic_of[kind], value, key=key, headers=headers)
            produced.append(
                Produced(
                    meta.topic, meta.partition, meta.offset, meta.timestamp, key, value, headers
                )
            )
    finally:
        await producer.stop()
    return produced


async def consumed(materializer: Materializer) -> float:
    registry = materializer.metrics.registry
    return sum(
        sample.value
        for metric in registry.collect()
        if metric.name == "shopwindow_events_consumed"
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


async def test_every_hostile_record_is_applied_or_dead_lettered(world: World) -> None:
    batches = drawn(st.lists(records(), min_size=1, max_size=25), EXAMPLES)
    produced = await produce_all(world, [record for batch in batches for record in batch])
    routes = CORE.routes(world.topics)
    skew = timedelta(seconds=world.settings().max_future_skew_s)
    # What the pure decoder refuses must be dead-lettered; the fold and the store may
    # refuse more, but never fewer.
    refused_at_the_door = {
        (r.topic, r.partition, r.offset)
        for r in produced
        if build_batch([r], routes, skew).dead_letters
    }
    async with Materializer(world.settings()) as materializer:
        task = asyncio.create_task(materializer.run())
        try:
            await eventually(
                lambda: consumed(materializer), lambda n: n >= len(produced), timeout_s=120
            )
            assert not task.done(), task.exception() if task.done() else None
            letters = await consume_all(
                world.stack.kafka_bootstrap_servers,
                world.topics.dead_letter,
                expect_at_least=len(refused_at_the_door),
            )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    lettered = {
        (h["dlq.topic"].decode(), int(h["dlq.partition"]), int(h["dlq.offset"]))
        for h in (dict(x.headers) for x in letters)
    }
    every = {(r.topic, r.partition, r.offset) for r in produced}
    print(
        f"\nconsume-loop fuzz: {len(produced)} records, {len(refused_at_the_door)} refused "
        f"at decoding, {len(lettered)} dead-lettered in all"
    )
    assert refused_at_the_door <= lettered <= every
    assert all(dict(x.headers)["dlq.reason"] for x in letters)
