"""The promotions example end to end: Kafka -> materializer -> MongoDB -> GraphQL.

Also the life of an opportunistic consumer: added to a running system it backfills
its topic from the beginning while nothing else is counted twice; removed, its section
stays in the stored documents, hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo import AsyncMongoClient
from shopwindow_promotions import TOPIC, extension

from shopwindow.devstack import DevStack
from shopwindow.document import COLLECTION
from shopwindow.kafka_admin import create_topics
from shopwindow.materializer.sources import registry_with
from shopwindow.mongo import MongoDocument
from shopwindow.settings import MaterializerSettings
from shopwindow.topics import TopicNames
from tests import kinds
from tests.gateway.conftest import GatewayFactory
from tests.helpers import consume_all, eventually, produce, running_materializer
from tests.materializer.conftest import catalog, click

WITH_PROMOTIONS = registry_with(extension.sources)
RUNNING = {
    "product_id": "abc",
    "promotion_id": "bf",
    "label": "Black Friday",
    "discount_percent": "20",
    "starts_at": "2020-01-01T00:00:00Z",
    "ends_at": "2100-01-01T00:00:00Z",
}
QUERY = (
    '{ product(id: "abc") { name popularity { views } promotions { id label discountPercent } } }'
)


async def _create_promotions_topic(stack: DevStack, topics: TopicNames) -> str:
    name: str = TOPIC.name_in(topics)
    await create_topics(stack.kafka_bootstrap_servers, topics, 3, [name])
    return name


async def _document(mongo: AsyncMongoClient[MongoDocument], database: str) -> Any:
    return await mongo[database][COLLECTION].find_one({"_id": "abc"})


async def test_a_source_added_later_backfills_its_topic_and_counts_nothing_twice(
    stack: DevStack,
    topics: TopicNames,
    mongo: AsyncMongoClient[MongoDocument],
    database_name: str,
    materializer_settings: Callable[..., MaterializerSettings],
    gateway: GatewayFactory,
) -> None:
    promotions = await _create_promotions_topic(stack, topics)
    # The promotions service has been publishing for a while before anyone consumes it.
    await produce(
        stack.kafka_bootstrap_servers,
        [
            (promotions, "abc", RUNNING),
            (promotions, "abc", {**RUNNING, "promotion_id": "old", "deleted": True}),
            (kinds.CATALOG.name_in(topics), "abc", catalog("abc")),
            (kinds.CLICKS.name_in(topics), "u1", click("abc")),
        ],
    )
    settings = materializer_settings()
    async with running_materializer(settings):
        first = await eventually(
            lambda: _document(mongo, database_name),
            lambda doc: doc is not None and doc["popularity"]["views"] == 1,
        )
    assert "promotions" not in first

    # The extension is installed: the same group, one more source.
    await produce(stack.kafka_bootstrap_servers, [(kinds.CLICKS.name_in(topics), "u2", click())])
    async with running_materializer(settings, registry=WITH_PROMOTIONS):
        doc = await eventually(
            lambda: _document(mongo, database_name),
            lambda doc: (
                "bf" in (doc or {}).get("promotions", {}) and doc["popularity"]["views"] == 2
            ),
        )
    assert doc["popularity"]["views"] == 2  # The first click was not counted again.
    async with gateway(extensions="shopwindow_promotions:extension") as http:
        body = (await http.post("/graphql", json={"query": QUERY})).json()
    assert body["data"] == {
        "product": {
            "name": "Trail shoe",
            "popularity": {"views": 2},
            "promotions": [{"id": "bf", "label": "Black Friday", "discountPercent": "20"}],
        }
    }


async def test_a_removed_source_leaves_its_section_stored_and_hidden(
    stack: DevStack,
    topics: TopicNames,
    mongo: AsyncMongoClient[MongoDocument],
    database_name: str,
    materializer_settings: Callable[..., MaterializerSettings],
    gateway: GatewayFactory,
) -> None:
    promotions = await _create_promotions_topic(stack, topics)
    await produce(
        stack.kafka_bootstrap_servers,
        [(promotions, "abc", RUNNING), (kinds.CATALOG.name_in(topics), "abc", catalog("abc"))],
    )
    settings = materializer_settings()
    async with running_materializer(settings, registry=WITH_PROMOTIONS):
        await eventually(
            lambda: _document(mongo, database_name),
            lambda doc: doc is not None and "bf" in doc.get("promotions", {}) and doc["visible"],
        )
    # Uninstalled: the core materializer keeps folding, and announces no promotions.
    await produce(stack.kafka_bootstrap_servers, [(kinds.CLICKS.name_in(topics), "u", click())])
    async with running_materializer(settings):
        doc = await eventually(
            lambda: _document(mongo, database_name),
            lambda doc: doc["popularity"]["views"] == 1,
        )
    assert "bf" in doc["promotions"]
    changes = await consume_all(stack.kafka_bootstrap_servers, topics.changelog, expect_at_least=2)
    last = [record.value for record in changes if record.key == b"abc"][-1]
    assert last is not None and b'"views":1' in last and b"promotions" not in last
    async with gateway() as http:
        body = (await http.post("/graphql", json={"query": QUERY})).json()
    assert "Cannot query field 'promotions'" in body["errors"][0]["message"]
