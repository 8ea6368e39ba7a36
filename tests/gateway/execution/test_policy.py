"""One GraphQL policy for every transport: the same limits, switches, masking and a
fresh context per operation over HTTP and both WebSocket protocols."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from shopwindow.document import COLLECTION
from shopwindow.gateway.schema.subscriptions import LIVE_FIELDS
from shopwindow.mongo import MongoDocument
from tests.gateway.conftest import GatewayFactory, Seed, full_product
from tests.gateway.execution.test_limits import bomb
from tests.gateway.transport.test_http import TROUBLE
from tests.gateway.transports import LEGACY_WS, TRANSPORT_WS, TRANSPORTS, Transport, WebSocket

# Subscription documents pass through every transport's door (HTTP refuses to run one,
# but only after the checks all transports share), so one document tests all three.
ALIASES = (
    'subscription { productChanged(id: "x") { '
    + " ".join(f"a{n}: id" for n in range(2000))
    + " } }"
)
DEEP = 'subscription { productChanged(id: "x") { price { amount } } }'
COSTLY = (
    "subscription { pricesChanged(productIds: ["
    + ", ".join(f'"p{n}"' for n in range(60))
    + "]) { productId version price { amount currency listAmount } } }"
)
MISSPELT = 'subscription { productChange(id: "x") { id } }'


def code(body: dict[str, Any]) -> Any:
    return body["errors"][0]["extensions"]["code"]


@pytest.fixture(params=TRANSPORTS, ids=lambda t: t.name)
def transport(request: pytest.FixtureRequest) -> Transport:
    """Each transport in turn."""
    chosen: Transport = request.param
    return chosen


@pytest.mark.parametrize(
    ("overrides", "document", "expected"),
    [
        ({"max_tokens": 100_000}, ALIASES, "TOO_MANY_ALIASES"),
        ({"max_query_depth": 2}, DEEP, "QUERY_TOO_DEEP"),
        ({"max_query_cost": 100, "introspection": False}, COSTLY, "QUERY_TOO_COSTLY"),
        ({"max_tokens": 50, "introspection": False}, ALIASES, "GRAPHQL_PARSE_FAILED"),
    ],
    ids=["aliases", "depth", "cost", "tokens"],
)
async def test_limits_hold_on_every_transport(
    gateway: GatewayFactory,
    transport: Transport,
    overrides: dict[str, Any],
    document: str,
    expected: str,
) -> None:
    async with gateway(**overrides) as http:
        body = await transport.run(http, document)
    assert code(body) == expected
    assert "data" not in body or body["data"] is None


async def test_the_cost_error_names_the_cost_and_the_limit(
    gateway: GatewayFactory, transport: Transport
) -> None:
    async with gateway(max_query_cost=100, introspection=False) as http:
        body = await transport.run(http, COSTLY)
    # 60 ids, each a PriceUpdate (1) with its price (1); scalars cost nothing.
    assert body["errors"][0]["message"] == "The query's estimated cost is 120; the limit is 100."


async def test_field_suggestions_are_hidden_when_introspection_is_off(
    gateway: GatewayFactory, transport: Transport
) -> None:
    async with gateway() as http:
        shown = await transport.run(http, MISSPELT)
    async with gateway(introspection=False) as http:
        hidden = await transport.run(http, MISSPELT)
    assert "Did you mean" in shown["errors"][0]["message"]
    assert "Did you mean" not in hidden["errors"][0]["message"]
    assert code(hidden) == "GRAPHQL_VALIDATION_FAILED"


QUERY_TRANSPORTS = [t for t in TRANSPORTS if t.name != LEGACY_WS]


@pytest.mark.parametrize("transport", QUERY_TRANSPORTS, ids=lambda t: t.name)
async def test_introspection_is_refused_when_switched_off(
    gateway: GatewayFactory, transport: Transport
) -> None:
    async with gateway(introspection=False) as http:
        body = await transport.run(http, "{ __schema { types { name } } }")
    assert code(body) == "GRAPHQL_VALIDATION_FAILED"


async def test_the_legacy_protocol_carries_only_subscriptions(gateway: GatewayFactory) -> None:
    async with gateway() as http:
        body = await WebSocket(LEGACY_WS).run(http, "{ __typename }")
    assert code(body) == "BAD_REQUEST"


@pytest.mark.parametrize("transport", QUERY_TRANSPORTS, ids=lambda t: t.name)
async def test_queries_report_their_cost_and_time_out_alike(
    gateway: GatewayFactory, transport: Transport
) -> None:
    # The slow field sleeps 5 s; 3 s leave an ordinary lookup ample time on a loaded
    # machine (its first MongoDB round trip included) while still cutting the slow one.
    async with gateway(with_extensions=[TROUBLE], request_timeout_ms=3000) as http:
        fast = await transport.run(http, '{ product(id: "x") { id name price { amount } } }')
        slow = await transport.run(http, "{ slow }")
    # Nothing found: the product (1) and its price (1) were estimated, nothing returned.
    assert fast["extensions"]["cost"] == {
        "requestedQueryCost": 2,
        "actualQueryCost": 0,
        "maximumQueryCost": 5000,
    }
    assert code(slow) == "TIMEOUT"


@pytest.mark.parametrize("transport", QUERY_TRANSPORTS, ids=lambda t: t.name)
async def test_resolver_errors_are_masked_and_logged_with_a_request_id(
    gateway: GatewayFactory, transport: Transport, caplog: pytest.LogCaptureFixture
) -> None:
    async with gateway(with_extensions=[TROUBLE]) as http:
        with caplog.at_level(logging.ERROR, logger="gateway"):
            body = await transport.run(http, "{ broken }")
    error = body["errors"][0]
    assert error["message"] == "Internal server error"
    assert "hunter2" not in str(body)
    request_id = error["extensions"]["requestId"]
    assert any(getattr(r, "request_id", None) == request_id for r in caplog.records)


async def test_subscription_errors_are_masked_on_both_protocols(
    seed: Seed, gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("mongodb://admin:hunter2@db is down")

    stock = LIVE_FIELDS["stockChanged"]
    monkeypatch.setitem(LIVE_FIELDS, "stockChanged", dataclasses.replace(stock, event=broken))
    await seed("abc", *full_product("abc"))
    async with gateway() as http:
        for protocol in (TRANSPORT_WS, LEGACY_WS):
            body = await WebSocket(protocol).run(
                http, 'subscription { stockChanged(productId: "abc") { version } }'
            )
            assert body["errors"][0]["message"] == "Internal server error", protocol
            assert body["errors"][0]["extensions"]["requestId"]
            assert "hunter2" not in str(body)


async def test_each_websocket_operation_gets_a_fresh_dataloader(
    seed: Seed,
    gateway: GatewayFactory,
    mongo: AsyncMongoClient[MongoDocument],
    database_name: str,
) -> None:
    from websockets.asyncio.client import connect

    await seed("abc", *full_product("abc"))
    collection = mongo[database_name][COLLECTION]
    query = '{ product(id: "abc") { name } }'
    async with gateway() as http:
        url = f"ws://127.0.0.1:{http.base_url.port}/graphql"
        async with connect(url, subprotocols=[TRANSPORT_WS]) as ws:  # type: ignore[list-item]
            import json

            await ws.send(json.dumps({"type": "connection_init"}))
            names = []
            for n in ("1", "2"):
                await ws.send(
                    json.dumps({"type": "subscribe", "id": n, "payload": {"query": query}})
                )
                while True:
                    frame = json.loads(await ws.recv(decode=True))
                    if frame["type"] == "next":
                        names.append(frame["payload"]["data"]["product"]["name"])
                        break
                await collection.update_one({"_id": "abc"}, {"$set": {"catalog.name": "Renamed"}})
    assert names == ["Trail shoe", "Renamed"]


@pytest.mark.parametrize("transport", QUERY_TRANSPORTS, ids=lambda t: t.name)
async def test_a_document_of_fragments_spreading_fragments_is_answered(
    gateway: GatewayFactory, transport: Transport
) -> None:
    """2^190 paths through 191 fragments, within the token limit: each rule walks each
    fragment once, so the answer comes (the watchdog bounds the test, not a clock)."""
    async with gateway() as http:
        body = await transport.run(http, bomb(190))
    assert body["data"] == {"__typename": "Query"}
