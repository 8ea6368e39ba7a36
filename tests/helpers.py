"""Helpers for the integration tests: producing, consuming, waiting, running roles."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from shopwindow.materializer.service import Materializer
from shopwindow.settings import MaterializerSettings

T = TypeVar("T")

Record = tuple[str, str | None, Any]  # topic, key, value (dict -> JSON; bytes as is; None)


def encode(value: Any) -> bytes | None:
    """A test value as record bytes: dicts as JSON, bytes as they are."""
    if value is None or isinstance(value, bytes):
        return value
    return json.dumps(value).encode()


async def produce(
    bootstrap_servers: str,
    records: Iterable[Record],
    headers: list[tuple[str, bytes]] | None = None,
) -> list[str]:
    """Produce records and wait until each is acknowledged.

    Returns:
        Where each record landed, as ``topic:partition:offset``.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, enable_idempotence=False)
    landed = []
    try:
        await producer.start()  # Inside: a caller cancelled while connecting still closes it.
        for topic, key, value in records:
            meta = await producer.send_and_wait(
                topic, encode(value), key=key.encode() if key else None, headers=headers or []
            )
            landed.append(f"{topic}:{meta.partition}:{meta.offset}")
    finally:
        await producer.stop()
    return landed


async def consume_all(
    bootstrap_servers: str, topic: str, *, expect_at_least: int, timeout_s: float = 20
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read a topic from the beginning until at least ``expect_at_least`` records came."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(records) < expect_at_least:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{topic}: {len(records)} < {expect_at_least} records")
            batches = await consumer.getmany(timeout_ms=200)
            for batch in batches.values():
                records.extend(batch)
        # Anything more that is already there, too.
        for batch in (await consumer.getmany(timeout_ms=300)).values():
            records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    timeout_s: float = 30,
    interval_s: float = 0.1,
) -> T:
    """Poll ``probe`` until ``accept`` holds for its result; fail with the last result."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await probe()
        if accept(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not reached in {timeout_s}s; last value: {value!r}")
        await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def running_materializer(
    settings: MaterializerSettings, **options: Any
) -> AsyncIterator[Materializer]:
    """A started materializer consuming in a background task."""
    async with Materializer(settings, **options) as materializer:
        task = asyncio.create_task(materializer.run())
        try:
            yield materializer
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def run_command(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run ``shopwindow ARGS`` in a process of its own; its exit code, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shopwindow.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@contextlib.contextmanager
def garbage_of_the_block() -> Iterator[Counter[str]]:
    """The types of what the block left for the cyclic collector, by count.

    The gateway's collector almost never walks old objects (``shopwindow.gc_tuning``),
    so a reference cycle per request or connection is memory that grows with traffic.
    """
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    found: Counter[str] = Counter()
    try:
        yield found
        gc.collect()
        found.update(type(o).__name__ for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
