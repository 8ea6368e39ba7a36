"""Read-your-writes: a client names the record it caused and reads its effect."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from shopwindow.devstack import DevStack
from shopwindow.gateway.errors import UserInputError
from shopwindow.gateway.reads.consistency import (
    MAX_POSITIONS,
    AppliedPositions,
    SourcePosition,
    parse_after,
)
from shopwindow.settings import MaterializerSettings
from shopwindow.topics import TopicNames
from tests import kinds
from tests.gateway.conftest import GatewayFactory
from tests.gateway.transports import LEGACY_WS, TRANSPORT_WS, TRANSPORTS, Transport, WebSocket
from tests.helpers import eventually, produce, running_materializer
from tests.materializer.conftest import catalog, delta, stock_take

QUERY = '{ product(id: "abc") { stock { available } } }'
SOURCES = {"inventory", "catalog.products"}


async def test_a_client_reads_its_own_write_by_header_and_by_argument(
    stack: DevStack,
    topics: TopicNames,
    materializer_settings: Callable[..., MaterializerSettings],
    gateway: GatewayFactory,
) -> None:
    inventory = kinds.INVENTORY.name_in(topics)
    await produce(
        stack.kafka_bootstrap_servers,
        [
            (kinds.CATALOG.name_in(topics), "abc", catalog()),
            (inventory, "abc", stock_take(10)),
        ],
    )
    async with running_materializer(materializer_settings()), gateway() as http:

        async def stock(**options: Any) -> Any:
            body = (await http.post("/graphql", json={"query": QUERY}, **options)).json()
            return body

        await eventually(stock, lambda b: b["data"]["product"] is not None)
        for minute in (1, 2):
            [where] = await produce(
                stack.kafka_bootstrap_servers, [(inventory, "abc", delta(-1, minutes=minute))]
            )
            # Asked at once: without the wait the materializer may not have folded it.
            body = await stock(headers={"Shopwindow-After": where})
            assert body["data"]["product"]["stock"] == {"available": 10 - minute}
            assert body["extensions"]["consistency"]["met"] is True
            assert body["extensions"]["consistency"]["pending"] == []

        async def change(minutes: int) -> list[dict[str, Any]]:
            [where] = await produce(
                stack.kafka_bootstrap_servers, [(inventory, "abc", delta(-1, minutes=minutes))]
            )
            topic, partition, offset = where.split(":")
            return [{"topic": topic, "partition": int(partition), "offset": offset}]

        after = await change(3)
        by_argument = (
            "query($after: [SourcePositionInput!]) "
            '{ product(id: "abc", after: $after) { stock { available } } }'
        )
        body = (
            await http.post("/graphql", json={"query": by_argument, "variables": {"after": after}})
        ).json()
        assert body["data"]["product"]["stock"] == {"available": 7}
        assert body["extensions"]["consistency"]["met"] is True
        # A subscriber whose client just caused a change gets it in its first value.
        after = await change(4)
        subscription = (
            "subscription($after: [SourcePositionInput!]) "
            '{ stockChanged(productId: "abc", after: $after) { stock { available } } }'
        )
        first = await WebSocket(TRANSPORT_WS).run(http, subscription, {"after": after})
    assert first["data"]["stockChanged"]["stock"] == {"available": 6}
    assert first["extensions"]["consistency"]["met"] is True


async def test_an_unmet_wait_is_reported_not_failed(
    topics: TopicNames, gateway: GatewayFactory
) -> None:
    far = f"{kinds.INVENTORY.name_in(topics)}:0:1000000"
    async with gateway(consistency_wait_ms=300) as http:
        response = await http.post(
            "/graphql", json={"query": QUERY}, headers={"Shopwindow-After": far}
        )
    body = response.json()
    assert response.status_code == 200 and body["data"] == {"product": None}
    consistency = body["extensions"]["consistency"]
    assert consistency["met"] is False and consistency["pending"] == [far]
    assert consistency["waitedMs"] >= 300


@pytest.mark.parametrize(
    "header",
    [
        "inventory",
        "inventory:0",
        "inventory:-1:5",
        "inventory:0:-5",
        "inventory:0:1:2",
        "unknown.topic:0:1",
        "inventory:0:99999999999999999999",
        "inventory:99999999999:1",
        "inventory:0:1e3",
        "invent\u00f6ry:0:1",
        "inventory:0:١٢",  # Digits of another script.
        ",".join(["inventory:0:1"] * (MAX_POSITIONS + 1)),
    ],
)
def test_hostile_positions_are_refused(header: str) -> None:
    with pytest.raises(UserInputError):
        parse_after(header, SOURCES)


def test_positions_parse() -> None:
    assert parse_after(" inventory:0:77, catalog.products:3:1042 ,", SOURCES) == [
        SourcePosition("inventory", 0, 77),
        SourcePosition("catalog.products", 3, 1042),
    ]


async def test_a_hostile_header_is_a_400(topics: TopicNames, gateway: GatewayFactory) -> None:
    async with gateway() as http:
        response = await http.post(
            "/graphql", json={"query": QUERY}, headers={"Shopwindow-After": "x" * 10_000}
        )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_wait_is_woken_by_progress_and_ignores_junk() -> None:
    applied = AppliedPositions()
    wanted = [SourcePosition("inventory", 0, 5)]
    waiting = asyncio.create_task(applied.wait(wanted, 5))
    for junk in (None, b"", b"{", b"[]", b'{"topic": "inventory"}', b'{"partition": "x"}'):
        applied.record(junk)
    applied.record(b'{"topic": "inventory", "partition": 0, "next_offset": 5}')
    await asyncio.sleep(0.01)
    assert not waiting.done()
    applied.record(b'{"topic": "inventory", "partition": 0, "next_offset": 6}')
    assert await asyncio.wait_for(waiting, 1) == []
    # Progress never goes back.
    applied.record(b'{"topic": "inventory", "partition": 0, "next_offset": 2}')
    assert applied.pending(wanted) == []


@pytest.mark.parametrize(
    "after",
    [
        [{"topic": "unknown.topic", "partition": 0, "offset": 1}],
        [{"topic": "INVENTORY", "partition": 0, "offset": -1}],
        [{"topic": "INVENTORY", "partition": -1, "offset": 1}],
        [{"topic": "INVENTORY", "partition": 0, "offset": "9" * 20}],
        [{"topic": "INVENTORY", "partition": 0, "offset": "9" * 5000}],
        [{"topic": "INVENTORY", "partition": 0, "offset": "١٢"}],
        [{"topic": "INVENTORY", "partition": 0, "offset": "1e3"}],
        [{"topic": "INVENTORY", "partition": 0, "offset": True}],
        [{"topic": "INVENTORY", "partition": 0, "offset": 1}] * (MAX_POSITIONS + 1),
    ],
    ids=[
        "unknown-topic",
        "negative-offset",
        "negative-partition",
        "offset-past-int64",
        "offset-of-5000-digits",
        "unicode-digits",
        "exponent",
        "boolean",
        "too-many",
    ],
)
@pytest.mark.parametrize("transport", TRANSPORTS, ids=lambda t: t.name)
async def test_hostile_after_arguments_are_refused_on_every_transport(
    after: list[dict[str, Any]],
    transport: Transport,
    topics: TopicNames,
    gateway: GatewayFactory,
) -> None:
    inventory = kinds.INVENTORY.name_in(topics)
    variables = {
        "after": [{**p, "topic": p["topic"].replace("INVENTORY", inventory)} for p in after]
    }
    if transport.name == LEGACY_WS:  # That protocol carries subscriptions only.
        document = (
            "subscription($after: [SourcePositionInput!]) "
            '{ stockChanged(productId: "abc", after: $after) { version } }'
        )
    else:
        document = (
            'query($after: [SourcePositionInput!]) { product(id: "abc", after: $after) { id } }'
        )
    async with gateway(consistency_wait_ms=100) as http:
        body = await transport.run(http, document, variables)
    codes = [e.get("extensions", {}).get("code") for e in body["errors"]]
    assert codes and "INTERNAL" not in codes, body
    assert "consistency" not in body.get("extensions", {})
