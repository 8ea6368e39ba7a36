"""The similar-products example end to end: Kafka -> materializer -> MongoDB -> GraphQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shopwindow.devstack import DevStack
from shopwindow.settings import MaterializerSettings
from shopwindow.topics import TopicNames
from tests import kinds
from tests.gateway.conftest import GatewayFactory
from tests.helpers import eventually, produce, running_materializer
from tests.materializer.conftest import catalog

QUERY = '{ product(id: "a") { id similarProducts(first: 5) { id category } } }'


async def test_similar_products_from_the_catalog_stream(
    stack: DevStack,
    topics: TopicNames,
    materializer_settings: Callable[..., MaterializerSettings],
    gateway: GatewayFactory,
) -> None:
    await produce(
        stack.kafka_bootstrap_servers,
        [
            (kinds.CATALOG.name_in(topics), pid, catalog(pid, category=category))
            for pid, category in [("a", "shoes"), ("b", "shoes"), ("c", "bags"), ("d", "shoes")]
        ],
    )
    async with (
        running_materializer(materializer_settings()),
        gateway(extensions="shopwindow_similar_products:extension") as http,
    ):

        async def similar() -> Any:
            return (await http.post("/graphql", json={"query": QUERY})).json()["data"]

        data = await eventually(
            similar,
            lambda d: d["product"] is not None and len(d["product"]["similarProducts"]) == 2,
        )
    assert data["product"]["similarProducts"] == [
        {"id": "b", "category": "shoes"},
        {"id": "d", "category": "shoes"},
    ]
