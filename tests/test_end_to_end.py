"""The thin slice through the whole system: Kafka -> materializer -> MongoDB -> GraphQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shopwindow.devstack import DevStack
from shopwindow.settings import MaterializerSettings
from shopwindow.topics import TopicNames
from tests import kinds
from tests.gateway.conftest import GatewayFactory, gateway
from tests.helpers import eventually, produce, running_materializer

__all__ = ["gateway"]  # The gateway fixture, as the gateway's tests run it.

QUERY = '{ product(id: "abc") { id name stock { available } } }'


async def test_catalog_and_inventory_events_are_served_as_one_product(
    stack: DevStack,
    topics: TopicNames,
    materializer_settings: Callable[..., MaterializerSettings],
    gateway: GatewayFactory,
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
    async with running_materializer(materializer_settings()), gateway() as http:

        async def query() -> Any:
            response = await http.post("/graphql", json={"query": QUERY})
            assert response.status_code == 200
            return response.json()

        body = await eventually(
            query, lambda b: (b["data"]["product"] or {}).get("stock") == {"available": 9}
        )
    assert body["data"] == {
        "product": {"id": "abc", "name": "Trail shoe", "stock": {"available": 9}}
    }


def _ms(moment: str) -> int:
    return int(datetime.fromisoformat(moment).timestamp() * 1000)


def _withdrawn(moment: str) -> dict[str, Any]:
    """A pricing service's row deleted at ``moment``, as Debezium announces it."""
    row = {"product_id": "abc", "currency": "EUR", "amount": "70.00", "updated_at": moment}
    return {"before": row, "after": None, "op": "d", "ts_ms": _ms(moment)}


def _priced(amount: str, moment: str) -> dict[str, Any]:
    return {"product_id": "abc", "currency": "EUR", "amount": amount, "updated_at": moment}


async def test_the_prior_price_of_a_price_withdrawn_and_resent_at_one_instant(
    stack: DevStack,
    topics: TopicNames,
    materializer_settings: Callable[..., MaterializerSettings],
    gateway: GatewayFactory,
) -> None:
    """70 from 1 January, with withdrawals at that same instant; 50 from 2 January and
    again on 15 February; on 1 March a withdrawal and a re-sent 50 at one instant. The
    50 reduced the 70: the prior price is 70 (it was ``null``)."""
    jan1, jan2, feb15, mar1 = (
        "2026-01-01T00:00:00+00:00",
        "2026-01-02T00:00:00+00:00",
        "2026-02-15T00:00:00+00:00",
        "2026-03-01T00:00:00+00:00",
    )
    prices = kinds.PRICES.name_in(topics)
    log = [
        _priced("50.00", feb15),
        _withdrawn(jan1),
        _priced("50.00", jan2),
        *(_withdrawn(jan1) for _ in range(5)),
        _priced("70.00", jan1),
        _withdrawn(mar1),
        _priced("50.00", mar1),
    ]
    landed = await produce(
        stack.kafka_bootstrap_servers,
        [
            (
                kinds.CATALOG.name_in(topics),
                "abc",
                {"product_id": "abc", "name": "Trail shoe", "updated_at": jan1},
            ),
            (
                kinds.INVENTORY.name_in(topics),
                "abc",
                {"product_id": "abc", "quantity": 3, "timestamp": jan1},
            ),
            *((prices, "abc", value) for value in log),
        ],
    )
    query = '{ product(id: "abc") { price { amount lowestPrice30d } } }'
    async with running_materializer(materializer_settings()), gateway() as http:

        async def read() -> Any:
            # Once the last price record is applied (read-your-writes).
            response = await http.post(
                "/graphql", json={"query": query}, headers={"shopwindow-after": landed[-1]}
            )
            return response.json()

        body = await eventually(read, lambda b: b["extensions"]["consistency"]["met"])
    assert body["data"]["product"]["price"] == {"amount": "50.00", "lowestPrice30d": "70.00"}
