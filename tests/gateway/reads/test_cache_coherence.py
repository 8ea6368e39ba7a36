"""The document cache serves hot products without MongoDB, and never stale ones for
long: not after the broker was suspended, not after the changelog reader restarted."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from shopwindow.devstack import DevStack
from shopwindow.document import COLLECTION
from shopwindow.mongo import MongoDocument
from tests import kinds
from tests.gateway.changelog_source import Source, fail_changelog_fetch_once
from tests.gateway.conftest import GatewayFactory, full_product, sample, until_counted
from tests.helpers import eventually
from tests.materializer.conftest import catalog, delta

QUERY = '{ product(id: "abc") { name version stock { available } } }'
# The response cache would answer QUERY before the document cache is asked; it is off
# here so that these tests watch the document cache alone (test_kept_answers, the other).


async def _product(http: httpx.AsyncClient) -> Any:
    body = (await http.post("/graphql", json={"query": QUERY})).json()
    return body["data"]["product"]


def _lookups(result: str) -> Callable[[httpx.AsyncClient], Awaitable[float]]:
    async def count(http: httpx.AsyncClient) -> float:
        return await sample(http, "shopwindow_document_cache_lookups_total", result=result)

    return count


async def _until_served_from_cache(http: httpx.AsyncClient) -> None:
    lookups = "shopwindow_document_cache_lookups_total"
    await until_counted(http, lambda: _product(http), lookups, 2, result="hit")


async def test_hot_products_are_served_from_the_changelog_without_a_database_read(
    source: Source,
    mongo: AsyncMongoClient[MongoDocument],
    database_name: str,
    gateway: GatewayFactory,
) -> None:
    await source.apply("abc", *full_product("abc"))
    async with gateway(response_cache_mb=0) as http:
        await _until_served_from_cache(http)
        # Changed in MongoDB behind the changelog's back: the cache still answers.
        await mongo[database_name][COLLECTION].update_one(
            {"_id": "abc"}, {"$set": {"catalog.name": "Not announced"}}
        )
        assert (await _product(http))["name"] == "Trail shoe"
        # An announced change replaces the cached copy.
        await source.apply("abc", (kinds.CATALOG, catalog(name="Announced", minutes=1)))
        served = await eventually(lambda: _product(http), lambda p: p["name"] == "Announced")
    assert served["version"] == 5


@pytest.mark.outage
async def test_no_stale_product_outlives_a_broker_outage(
    stack: DevStack, source: Source, gateway: GatewayFactory
) -> None:
    assert stack.broker is not None
    await source.apply("abc", *full_product("abc"))
    async with gateway(response_cache_mb=0) as http:
        await _until_served_from_cache(http)
        stack.broker.process.suspend()
        try:
            # Stored while the broker is away, so not announced: the cache's feed is cut
            # off, and MongoDB answers.
            await source.apply_quietly("abc", (kinds.INVENTORY, delta(-1, minutes=1)))
            during = await eventually(lambda: _product(http), lambda p: p["version"] == 5)
            assert await _lookups("bypass")(http) >= 1
        finally:
            stack.broker.process.resume()
        # What a materializer does once its broker is back: announce what it wrote.
        await source.apply_quietly("abc", (kinds.INVENTORY, delta(-1, minutes=2)))
        await source.announce("abc")
        seen = [during]
        while seen[-1]["version"] < 6:
            seen.append(await _product(http))
        for _ in range(20):  # Served from the cache again, never an older copy.
            seen.append(await _product(http))
    versions = [product["version"] for product in seen]
    assert versions == sorted(versions) and versions[-1] == 6
    assert seen[-1]["stock"] == {"available": 1}


async def test_a_restarted_reader_leaves_no_stale_product(
    source: Source, gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    await source.apply("abc", *full_product("abc"))
    async with gateway(response_cache_mb=0) as http:
        await _until_served_from_cache(http)
        # Stored and never announced: only MongoDB knows.
        await source.apply_quietly("abc", (kinds.INVENTORY, delta(-3, minutes=1)))
        assert (await _product(http))["version"] == 4  # The cached copy, for now.
        failures = fail_changelog_fetch_once(monkeypatch)
        served = await eventually(lambda: _product(http), lambda p: p["version"] == 5)
    assert failures
    assert served["stock"] == {"available": 0}
