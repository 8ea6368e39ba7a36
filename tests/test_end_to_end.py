"""The thin slice through the whole system: Kafka -> materializer -> MongoDB -> GraphQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from shopwindow.devstack import DevStack
from shopwindow.gateway.app import create_app
from shopwindow.http_server import HttpServer
from shopwindow.settings import GatewaySettings, MaterializerSettings
from shopwindow.topics import TopicNames
from tests import kinds
from tests.helpers import eventually, produce, running_materializer

QUERY = '{ product(id: "abc") { id name stock { available } } }'


async def test_catalog_and_inventory_events_are_served_as_one_product(
    stack: DevStack,
    topics: TopicNames,
    materializer_settings: Callable[..., MaterializerSettings],
    gateway_settings: Callable[..., GatewaySettings],
) -> None:
    await produce(
        stack.kafka_bootstrap_servers,
        [
            (
                kinds.CATALOG.name_in(topics),
                "abc",
                {"product_id": "abc", "name": "Trail shoe", "updated_at": "2024-06-18T12:00:00Z"},
            ),
            (
                kinds.INVENTORY.name_in(topics),
                "abc",
                {"product_id": "abc", "quantity": 10, "timestamp": "2024-06-18T12:30:00Z"},
            ),
            (
                kinds.INVENTORY.name_in(topics),
                "abc",
                {"product_id": "abc", "quantity_change": -1, "timestamp": "2024-06-18T12:36:56Z"},
            ),
        ],
    )
    gateway = HttpServer(create_app(gateway_settings()), "127.0.0.1", 0)
    async with running_materializer(materializer_settings()):
        await gateway.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as http:

                async def query() -> Any:
                    response = await http.post("/graphql", json={"query": QUERY})
                    assert response.status_code == 200
                    return response.json()

                body = await eventually(
                    query, lambda b: (b["data"]["product"] or {}).get("stock") == {"available": 9}
                )
        finally:
            await gateway.stop()
    assert body["data"] == {
        "product": {"id": "abc", "name": "Trail shoe", "stock": {"available": 9}}
    }
