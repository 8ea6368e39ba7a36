"""What read-your-writes adds to a gateway's p99 while writes flow.

A materializer and a gateway run as their own processes (``shopwindow materialize``,
``shopwindow serve``) over the stand-ins. While a producer sends stock deltas at the
given rate, two kinds of client read the same products side by side:

* plain readers, which ask as any product page does;
* read-your-writes readers, which produce a delta of their own, then ask with its
  position in ``Shopwindow-After`` (so the answer waits until the materializer has
  applied it and the gateway has seen its progress record).

The extra p99 is the difference of the two p99s; the share of answers whose wait was
met says whether the bound (``SHOPWINDOW_CONSISTENCY_WAIT_MS``) was reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
from aiokafka import AIOKafkaProducer

from bench.common import percentile
from shopwindow.demo_events import DemoEvents
from shopwindow.devstack import DevStack
from shopwindow.devstack.process import free_port
from shopwindow.topics import TopicNames
from tests import kinds

READERS = 8
QUERY = "query($id: ID!) { product(id: $id) { id stock { available } version } }"
_SHOPWINDOW = str(Path(sys.executable).with_name("shopwindow"))


@contextlib.asynccontextmanager
async def _process(role: str, env: dict[str, str]) -> AsyncIterator[None]:
    process = await asyncio.create_subprocess_exec(
        _SHOPWINDOW, role, env=env, stdout=asyncio.subprocess.DEVNULL
    )
    try:
        yield
    finally:
        process.terminate()
        await process.wait()


def _delta(product_id: str) -> bytes:
    change = {
        "product_id": product_id,
        "quantity_change": random.choice([-1, 1]),
        "timestamp": datetime.now(UTC).isoformat(),
    }
    return orjson.dumps(change)


async def _visible(http: httpx.AsyncClient, ids: Sequence[str]) -> None:
    query = "query($ids: [ID!]!) { products(ids: $ids) { id } }"
    for _ in range(600):
        with contextlib.suppress(httpx.TransportError):
            response = await http.post("/graphql", json={"query": query, "variables": {"ids": ids}})
            if response.status_code == 200 and None not in response.json()["data"]["products"]:
                return
        await asyncio.sleep(0.1)
    raise RuntimeError("the products never became visible")


async def read_your_writes(
    stack: DevStack, env: dict[str, str], writes_per_s: int, seconds: float
) -> list[tuple[str, str]]:
    """Measure plain and read-your-writes latency side by side; the report's rows."""
    topics = TopicNames()
    inventory = kinds.INVENTORY.name_in(topics)
    ids = [f"w{n:04d}" for n in range(100)]
    port = free_port()
    roles = {
        **env,
        "SHOPWINDOW_HTTP_PORT": str(port),
        "SHOPWINDOW_MATERIALIZER_HTTP_PORT": "0",
        "SHOPWINDOW_MATERIALIZER_GROUP_ID": f"bench-{uuid.uuid4().hex[:8]}",
    }
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers,
        enable_idempotence=False,
        acks="all",
        linger_ms=5,
    )
    await producer.start()
    try:
        for record in DemoEvents(topics, ids, random.Random(5)).initial(datetime.now(UTC)):
            await producer.send(record.topic, record.value, key=record.key, headers=record.headers)
        await producer.flush()
        async with (
            _process("materialize", roles),
            _process("serve", roles),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
        ):
            await _visible(http, ids)
            return await _measure(http, producer, inventory, ids, writes_per_s, seconds)
    finally:
        await producer.stop()


async def _measure(
    http: httpx.AsyncClient,
    producer: AIOKafkaProducer,
    inventory: str,
    ids: Sequence[str],
    writes_per_s: int,
    seconds: float,
) -> list[tuple[str, str]]:
    deadline = time.perf_counter() + seconds
    plain: list[float] = []
    consistent: list[float] = []
    met = written = 0
    sent_by_writer = [0]

    async def writer() -> None:
        nonlocal written
        began = time.perf_counter()
        while (now := time.perf_counter()) < deadline:
            # Catch up to the rate whatever the loop's delays: the readers' own writes
            # come on top.
            for _ in range(int((now - began) * writes_per_s) - sent_by_writer[0]):
                pid = random.choice(ids)
                await producer.send(inventory, _delta(pid), key=pid.encode())
                sent_by_writer[0] += 1
                written += 1
            await asyncio.sleep(0.005)

    async def reader(after_own_write: bool) -> None:
        nonlocal met, written
        while time.perf_counter() < deadline:
            pid = random.choice(ids)
            headers = {}
            if after_own_write:
                sent = await producer.send_and_wait(inventory, _delta(pid), key=pid.encode())
                written += 1
                headers["Shopwindow-After"] = f"{inventory}:{sent.partition}:{sent.offset}"
            started = time.perf_counter()
            response = await http.post(
                "/graphql", json={"query": QUERY, "variables": {"id": pid}}, headers=headers
            )
            elapsed = time.perf_counter() - started
            (consistent if after_own_write else plain).append(elapsed)
            if after_own_write and response.json()["extensions"]["consistency"]["met"]:
                met += 1

    started = time.perf_counter()
    await asyncio.gather(
        writer(),
        *(reader(False) for _ in range(READERS)),
        *(reader(True) for _ in range(READERS)),
    )
    elapsed = time.perf_counter() - started
    plain_p99, consistent_p99 = percentile(plain, 0.99), percentile(consistent, 0.99)
    return [
        ("writes/s achieved", f"{written / elapsed:,.0f}"),
        ("plain reads p50 / p99", _ms(plain)),
        ("read-your-writes p50 / p99", _ms(consistent)),
        ("extra p99 of read-your-writes", f"{(consistent_p99 - plain_p99) * 1000:+.1f} ms"),
        ("waits met", f"{met} of {len(consistent)}"),
    ]


def _ms(latencies: Sequence[float]) -> str:
    return (
        f"{percentile(latencies, 0.5) * 1000:.1f} / {percentile(latencies, 0.99) * 1000:.1f} ms"
        f"  ({len(latencies)} requests)"
    )
