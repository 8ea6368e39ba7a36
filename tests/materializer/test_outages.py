"""Outages for real: the MongoDB stand-in stopped and restarted, the broker suspended.

The stand-in broker keeps its data in memory, so its outage is a SIGSTOP/SIGCONT, not
a restart. Against real servers (no stand-ins started) these tests are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from materializer.metrics import MaterializerMetrics
from materializer.service import Materializer
from shopwindow.devstack import DevStack
from shopwindow.document import COLLECTION
from shopwindow.mongo import MongoDocument
from shopwindow.settings import MaterializerSettings
from shopwindow.topics import TopicNames
from tests.helpers import eventually, produce, running_materializer
from tests.materializer.conftest import catalog, delta, stock_take

Settings = Callable[..., MaterializerSettings]
Mongo = AsyncMongoClient[MongoDocument]


async def quantity(mongo: Mongo, database: str) -> Any:
    try:
        doc = await mongo[database][COLLECTION].find_one({"_id": "abc"})
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
    stack: DevStack, topics: TopicNames, settings: MaterializerSettings, mongo: Mongo, database: str
) -> AsyncIterator[tuple[Materializer, httpx.AsyncClient]]:
    """A materializer that has stored 10 units of "abc", and a client of its probes."""
    await produce(
        stack.kafka_bootstrap_servers,
        [(topics.catalog, "abc", catalog()), (topics.inventory, "abc", stock_take(10))],
    )
    async with running_materializer(settings) as materializer:
        await eventually(lambda: quantity(mongo, database), lambda q: q == 10)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{materializer.http_port}") as http:
            yield materializer, http


async def four_sold_then_six_stored(
    stack: DevStack, topics: TopicNames, mongo: Mongo, database: str
) -> None:
    """Produce four deltas of -1 and wait until the document shows 6 units."""
    await produce(
        stack.kafka_bootstrap_servers,
        [(topics.inventory, "abc", delta(-1, minutes=n)) for n in range(4)],
    )
    await eventually(lambda: quantity(mongo, database), lambda q: q == 6, timeout_s=60)


async def test_a_database_outage_is_waited_out_and_nothing_is_skipped(
    stack: DevStack,
    topics: TopicNames,
    materializer_settings: Settings,
    mongo: Mongo,
    database_name: str,
) -> None:
    if stack.database is None:
        pytest.skip("needs the MongoDB stand-in, which this run did not start")
    database = stack.database
    settings = materializer_settings()
    async with ten_in_stock(stack, topics, settings, mongo, database_name) as (materializer, http):
        await database.stop()
        try:
            sold = asyncio.create_task(
                four_sold_then_six_stored(stack, topics, mongo, database_name)
            )
            status, body = await eventually(lambda: readiness(http), lambda r: r[0] == 503)
            assert "mongodb" in body["failing"]
            # The batch fetched meanwhile is retried, not skipped or committed.
            await eventually(lambda: retries(materializer.metrics), lambda count: count >= 1)
        finally:
            await database.start()
        await sold
        await eventually(lambda: readiness(http), lambda r: r[0] == 200, timeout_s=30)


async def test_a_suspended_broker_is_waited_out_and_nothing_is_skipped(
    stack: DevStack,
    topics: TopicNames,
    materializer_settings: Settings,
    mongo: Mongo,
    database_name: str,
) -> None:
    if stack.broker is None:
        pytest.skip("needs the Kafka stand-in, which this run did not start")
    broker = stack.broker
    settings = materializer_settings()
    async with ten_in_stock(stack, topics, settings, mongo, database_name) as (_, http):
        broker.process.suspend()
        try:
            status, body = await eventually(lambda: readiness(http), lambda r: r[0] == 503)
            assert "kafka" in body["failing"]
        finally:
            broker.process.resume()
        await four_sold_then_six_stored(stack, topics, mongo, database_name)
        await eventually(lambda: readiness(http), lambda r: r[0] == 200, timeout_s=30)
