"""Every result says how fresh it is: ``Product.materializedAt`` and
``extensions.freshness``, alike over HTTP and both WebSocket protocols."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from shopwindow.document import COLLECTION
from shopwindow.gateway.reads.freshness import Freshness
from shopwindow.mongo import MongoDocument
from shopwindow.sale_product import read_sale_product
from tests.gateway.conftest import GatewayFactory, Seed, full_product
from tests.gateway.transports import LEGACY_WS, TRANSPORTS, Transport
from tests.helpers import eventually

OLD = datetime(2026, 11, 23, 12, 0, 0, 123000, tzinfo=UTC)
NEW = OLD + timedelta(seconds=5)


async def _seed_two(seed: Seed, mongo: AsyncMongoClient[MongoDocument], database: str) -> None:
    for product_id, when in (("abc", OLD), ("def", NEW)):
        await seed(product_id, *full_product(product_id))
        await mongo[database][COLLECTION].update_one(
            {"_id": product_id}, {"$set": {"materialized_at": when}}
        )


@pytest.mark.parametrize("transport", TRANSPORTS, ids=lambda t: t.name)
async def test_results_report_the_oldest_product_and_the_changelog_lag(
    transport: Transport,
    seed: Seed,
    mongo: AsyncMongoClient[MongoDocument],
    database_name: str,
    gateway: GatewayFactory,
) -> None:
    await _seed_two(seed, mongo, database_name)
    if transport.name == LEGACY_WS:  # That protocol carries subscriptions only.
        document = 'subscription { productChanged(id: "abc") { id materializedAt } }'
    else:
        document = '{ products(ids: ["abc", "def"]) { id materializedAt } }'
    async with gateway() as http:

        async def answer() -> Any:
            return await transport.run(http, document)

        # The changelog reader reports its lag once it has its partitions.
        body = await eventually(
            answer, lambda b: b["extensions"]["freshness"]["changelogLag"] is not None
        )
    freshness = body["extensions"]["freshness"]
    assert freshness == {"oldestMaterializedAt": OLD.isoformat(), "changelogLag": 0}
    returned = body["data"].get("products") or [body["data"]["productChanged"]]
    assert returned[0] == {"id": "abc", "materializedAt": OLD.isoformat()}


def test_the_report_starts_afresh_after_each_result() -> None:
    freshness = Freshness()
    for when in (NEW, OLD, None):
        freshness.saw(read_sale_product({"_id": "x", "version": 1, "materialized_at": when}), None)
    assert freshness.report(3) == {"oldestMaterializedAt": OLD.isoformat(), "changelogLag": 3}
    assert freshness.report(None) == {"oldestMaterializedAt": None, "changelogLag": None}
