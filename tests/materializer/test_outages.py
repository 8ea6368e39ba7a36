"""Outages for real: the MongoDB stand-in stopped and restarted, the broker suspended.

The stand-in broker keeps its data in memory, so its outage is a SIGSTOP/SIGCONT, not
a restart. Each test gets stand-ins of its own (marker ``outage``), so no other test
sees the outage; against real servers they are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pymongo.errors import PyMongoError

from shopwindow.document import COLLECTION
from shopwindow.materializer.metrics import MaterializerMetrics
from shopwindow.materializer.service import Materializer
from tests import kinds
from tests.faults.proxy import FaultProxy
from tests.helpers import Record, eventually, running_materializer
from tests.materializer.conftest import World, catalog, delta, stock_take


async def quantity(world: World) -> Any:
    try:
        doc = await world.mongo[world.database][COLLECTION].find_one({"_id": "abc"})
    except Exception:
        return "unreachable"
    return doc["stock"]["quantity"] if doc else None


async def retries(metrics: MaterializerMetrics) -> float:
    value = metrics.registry.get_sample_value(
        "shopwindow_batch_retries_total", {"dependency": "mongodb"}
    )
    return value or 0.0


async def readiness(http: httpx.AsyncClient) -> tuple[int, Any]:
    response = await http.get("/readyz")
    return response.status_code, response.json()


@contextlib.asynccontextmanager
async def ten_in_stock(
    world: World, **settings: Any
) -> AsyncIterator[tuple[Materializer, httpx.AsyncClient]]:
    """A materializer that has stored 10 units of "abc", and a client of its probes."""
    topics = world.topics
    await world.produce(
        [
            (kinds.CATALOG.name_in(topics), "abc", catalog()),
            (kinds.INVENTORY.name_in(topics), "abc", stock_take(10)),
        ]
    )
    async with running_materializer(world.settings(**settings)) as materializer:
        await eventually(lambda: quantity(world), lambda q: q == 10)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{materializer.http_port}") as http:
            yield materializer, http


async def four_sold(world: World) -> None:
    """Produce four deltas of -1."""
    await world.produce(
        [(kinds.INVENTORY.name_in(world.topics), "abc", delta(-1, minutes=n)) for n in range(4)]
    )


async def four_sold_then_six_stored(world: World) -> None:
    """Produce four deltas of -1 and wait until the document shows 6 units."""
    await four_sold(world)
    await eventually(lambda: quantity(world), lambda q: q == 6, timeout_s=60)


@pytest.mark.outage
async def test_a_database_outage_is_waited_out_and_nothing_is_skipped(world: World) -> None:
    database = world.stack.database
    assert database is not None
    async with ten_in_stock(world) as (materializer, http):
        await database.stop()
        try:
            sold = asyncio.create_task(four_sold_then_six_stored(world))
            status, body = await eventually(lambda: readiness(http), lambda r: r[0] == 503)
            assert "mongodb" in body["failing"]
            # The batch fetched meanwhile is retried, not skipped or committed.
            await eventually(lambda: retries(materializer.metrics), lambda count: count >= 1)
        finally:
            await database.start()
        await sold
        await eventually(lambda: readiness(http), lambda r: r[0] == 200, timeout_s=30)


@pytest.mark.outage
async def test_writes_acknowledged_before_a_database_crash_survive_it(world: World) -> None:
    # Offsets are committed once MongoDB acknowledged the batch's writes. A server that
    # acknowledges before its journal is flushed (a standalone, the stand-in) loses the
    # last of them to a SIGKILL, and the committed records are never read again: the
    # documents would miss deltas. Without j: true this lost several each time here.
    database = world.stack.database
    assert database is not None
    topics = world.topics
    ids = [f"crash{n:02d}" for n in range(20)]
    await world.produce(
        [(kinds.CATALOG.name_in(topics), pid, catalog(pid)) for pid in ids]
        + [(kinds.INVENTORY.name_in(topics), pid, stock_take(1000, pid)) for pid in ids]
    )

    async def quantities() -> dict[str, int]:
        try:
            docs = world.mongo[world.database][COLLECTION].find({}, {"stock.quantity": 1})
            return {d["_id"]: d["stock"]["quantity"] async for d in docs}
        except PyMongoError:
            return {}

    async with running_materializer(world.settings()):
        await eventually(quantities, lambda q: len(q) == len(ids))
        sold: list[Record] = [
            (kinds.INVENTORY.name_in(topics), pid, delta(-1, pid, minutes=1 + n / 100))
            for n in range(100)
            for pid in ids
        ]
        producing = asyncio.create_task(world.produce(sold))
        await eventually(quantities, lambda q: min(q.values(), default=1000) < 1000)
        await database.process.kill()  # Mid-stream: no cleanup, no flush.
        await database.start()
        await producing
        await eventually(quantities, lambda q: set(q.values()) == {900}, timeout_s=90)


@pytest.mark.outage
async def test_a_suspended_broker_is_waited_out_and_nothing_is_skipped(world: World) -> None:
    broker = world.stack.broker
    assert broker is not None
    async with ten_in_stock(world) as (_, http):
        broker.process.suspend()
        try:
            status, body = await eventually(lambda: readiness(http), lambda r: r[0] == 503)
            assert "kafka" in body["failing"]
        finally:
            broker.process.resume()
        await four_sold_then_six_stored(world)
        await eventually(lambda: readiness(http), lambda r: r[0] == 200, timeout_s=30)


def mongodb_address(uri: str) -> tuple[str, int] | None:
    """The one host of a direct connection string, or None (a replica set, SRV)."""
    host = uri.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    if uri.startswith("mongodb+srv") or "," in host or ":" not in host:
        return None
    name, port = host.rsplit(":", 1)
    return name, int(port)


@contextlib.asynccontextmanager
async def proxied(world: World, uri_options: str = "") -> AsyncIterator[tuple[FaultProxy, str]]:
    """A fault proxy in front of the test's MongoDB, and the URI that goes through it."""
    address = mongodb_address(world.stack.mongodb_uri)
    if address is None:
        pytest.skip("the MongoDB under test is not one direct host to proxy")
    proxy = FaultProxy(address)
    await proxy.start()
    try:
        yield proxy, f"mongodb://{proxy.address}/?directConnection=true{uri_options}"
    finally:
        await proxy.stop()


async def test_a_half_open_database_connection_is_dropped_and_nothing_is_skipped(
    world: World,
) -> None:
    # The proxy keeps every open connection and forwards nothing, as a partition that
    # sends no reset does: the client must notice by timeouts (its monitor's heartbeat,
    # SHOPWINDOW_MONGODB_TIMEOUT_MS for an operation) and use fresh connections.
    async with (
        proxied(world) as (proxy, uri),
        ten_in_stock(world, mongodb_uri=uri, mongodb_timeout_ms=1000),
    ):
        assert proxy.freeze_all() >= 1
        await four_sold_then_six_stored(world)


async def test_an_operation_on_a_hung_connection_ends_at_the_operation_timeout(
    world: World,
) -> None:
    # Every connection hangs but the monitor's, the first the client opens (and the
    # only one when it polls): pymongo sees a healthy server, so nothing but
    # SHOPWINDOW_MONGODB_TIMEOUT_MS ends the batch's operations, and the batch is
    # retried. The wait for that retry is well under the 20 s default, so the test
    # fails if the configured bound does not reach the materializer's operations.
    async with (
        proxied(world, "&serverMonitoringMode=poll") as (proxy, uri),
        ten_in_stock(world, mongodb_uri=uri, mongodb_timeout_ms=1000) as (materializer, _),
    ):
        proxy.faults.half_open = True  # New connections too.
        proxy.freeze_all(sparing_first=1)
        await four_sold(world)
        await eventually(lambda: retries(materializer.metrics), lambda n: n >= 1, timeout_s=8)
        proxy.faults.half_open = False
        await eventually(lambda: quantity(world), lambda q: q == 6)


async def test_a_materializer_stops_while_its_database_hangs(world: World) -> None:
    # Stopped while a batch's operations hang (within their 3 s timeout), the client's
    # close() sent its end-of-session and cursor commands outside any operation's
    # timeout, and with no socket timeout it waited forever.
    async with asyncio.timeout(60):
        async with (
            proxied(world, "&serverMonitoringMode=poll") as (proxy, uri),
            ten_in_stock(world, mongodb_uri=uri, mongodb_timeout_ms=3000),
        ):
            proxy.faults.half_open = True
            proxy.freeze_all(sparing_first=1)
            await four_sold(world)
            await asyncio.sleep(1)  # The batch is under way on a hung connection.


def dead_letters(metrics: MaterializerMetrics) -> float:
    return sum(
        sample.value
        for family in metrics.registry.collect()
        if family.name == "shopwindow_events_dead_lettered"
        for sample in family.samples
        if sample.name.endswith("_total")
    )


async def test_a_database_that_refuses_writes_holds_the_batch_uncommitted(world: World) -> None:
    # A validator an operator added refuses every document (code 121), as a full disk
    # or a missing privilege would: that is the database's refusal, not the records'.
    database = world.mongo[world.database]
    await database.create_collection(
        COLLECTION, validator={"refused_by_the_operator": {"$exists": True}}
    )
    topics = world.topics
    await world.produce(
        [
            (kinds.CATALOG.name_in(topics), "abc", catalog()),
            (kinds.INVENTORY.name_in(topics), "abc", stock_take(10)),
        ]
    )
    async with running_materializer(world.settings()) as materializer:
        await eventually(lambda: retries(materializer.metrics), lambda count: count >= 3)
        assert await world.documents() == {}
        assert dead_letters(materializer.metrics) == 0
        await database.command({"collMod": COLLECTION, "validator": {}})
        # Nothing was committed past the refused writes: the same records are stored.
        await eventually(lambda: quantity(world), lambda q: q == 10)
        assert dead_letters(materializer.metrics) == 0
