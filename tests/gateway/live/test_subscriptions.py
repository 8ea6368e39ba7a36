"""Live price and stock over both WebSocket protocols, with a real GraphQL client (gql)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions
from aiokafka.errors import IncompatibleBrokerVersion
from gql import Client, gql
from gql.transport.exceptions import TransportError, TransportQueryError, TransportServerError
from gql.transport.websockets import WebsocketsTransport
from websockets.exceptions import ConnectionClosed

from shopwindow.devstack import DevStack
from shopwindow.gateway.live import reader as live
from shopwindow.gateway.reads import changelog_reading
from shopwindow.materializer.publishing import changelog_record
from shopwindow.materializer.sources import CORE
from shopwindow.materializer.sources.base import SourceTopic
from shopwindow.topics import TopicNames
from tests import kinds
from tests.conftest import TEST_PARTITIONS
from tests.gateway.changelog_source import Source, fail_changelog_fetch_once
from tests.gateway.conftest import GatewayFactory, full_product
from tests.gateway.transports import LEGACY_WS, TRANSPORT_WS, WebSocket
from tests.helpers import eventually
from tests.materializer.conftest import catalog, delta, price, sizes, stock_take

PROTOCOLS = [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL, WebsocketsTransport.APOLLO_SUBPROTOCOL]
SECRET = "test-secret-of-at-least-32-bytes!!"
STOCK = 'subscription { stockChanged(productId: "abc") { productId version stock { available } } }'


@contextlib.asynccontextmanager
async def session(
    http: httpx.AsyncClient, protocol: str = PROTOCOLS[0], token: str | None = None
) -> AsyncIterator[Any]:
    transport = WebsocketsTransport(
        url=f"ws://127.0.0.1:{http.base_url.port}/graphql",
        subprotocols=[protocol],
        close_timeout=1,
        init_payload={"Authorization": f"Bearer {token}"} if token else {},
    )
    async with Client(transport=transport) as opened:
        yield opened


async def hub_listening(http: httpx.AsyncClient) -> None:
    """Wait until the gateway's changelog reader answers (its /readyz is green)."""
    await eventually(lambda: http.get("/readyz"), lambda r: r.status_code == 200)


@dataclass
class Following:
    """A gateway, a GraphQL WebSocket session to it, and one subscription's updates."""

    http: httpx.AsyncClient
    live: Any
    updates: Any


@contextlib.asynccontextmanager
async def following(
    gateway: GatewayFactory,
    query: str,
    protocol: str = PROTOCOLS[0],
    token: str | None = None,
    **settings: Any,
) -> AsyncIterator[Following]:
    """Run a gateway whose changelog reader listens, and subscribe to ``query``."""
    async with gateway(**settings) as http:
        await hub_listening(http)
        async with session(http, protocol, token) as live:
            yield Following(http, live, live.subscribe(gql(query)))


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_current_value_then_every_change(
    source: Source, gateway: GatewayFactory, protocol: str
) -> None:
    await source.apply("abc", *full_product("abc"))
    async with following(gateway, STOCK, protocol=protocol) as subscribed:
        updates = subscribed.updates
        first = await anext(updates)
        await source.apply("abc", (kinds.INVENTORY, delta(-1, minutes=1)))
        second = await asyncio.wait_for(anext(updates), 10)
    assert first["stockChanged"] == {"productId": "abc", "version": 4, "stock": {"available": 3}}
    assert second["stockChanged"] == {"productId": "abc", "version": 5, "stock": {"available": 2}}


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_bad_token_is_refused(gateway: GatewayFactory, protocol: str) -> None:
    bad = jwt.encode({"sub": "u", "exp": 1}, SECRET, algorithm="HS256")
    async with gateway(jwt_hs256_secret=SECRET) as http:
        with pytest.raises(TransportError) as refused:
            async with session(http, protocol, token=bad) as live:
                await anext(live.subscribe(gql(STOCK)))
    if protocol == WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL:
        # graphql-transport-ws has no error message before the ack: close code 4403.
        cause = refused.value.__cause__
        assert isinstance(cause, ConnectionClosed) and cause.rcvd is not None
        assert cause.rcvd.code == 4403
    else:
        assert isinstance(refused.value, TransportServerError)
        assert "token expired" in str(refused.value)


async def test_a_segment_token_sees_its_price_and_unchanged_prices_push_nothing(
    source: Source, gateway: GatewayFactory
) -> None:
    await source.apply("abc", *full_product("abc"))
    good = jwt.encode(
        {"sub": "u", "exp": 9_999_999_999, "segment": "gold"}, SECRET, algorithm="HS256"
    )
    query = (
        'subscription { priceChanged(productId: "abc") { version price { amount listAmount } } }'
    )
    async with following(gateway, query, token=good, jwt_hs256_secret=SECRET) as subscribed:
        updates = subscribed.updates
        first = await anext(updates)
        # The same prices, newer time: nothing to push. Then stock moves: nothing either.
        same = price(
            "abc", "17.99", minutes=5, list_amount="19.99", segment_amounts={"gold": "15.00"}
        )
        await source.apply("abc", (kinds.PRICES, same))
        await source.apply("abc", (kinds.INVENTORY, delta(-1, minutes=6)))
        cheaper = price(
            "abc", "17.99", minutes=7, list_amount="19.99", segment_amounts={"gold": "14.00"}
        )
        await source.apply("abc", (kinds.PRICES, cheaper))
        second = await asyncio.wait_for(anext(updates), 10)
    assert first["priceChanged"] == {
        "version": 4,
        "price": {"amount": "15.00", "listAmount": "17.99"},
    }
    assert second["priceChanged"] == {
        "version": 6,
        "price": {"amount": "14.00", "listAmount": "17.99"},
    }


async def test_a_burst_of_changes_is_conflated_to_the_latest(
    source: Source, gateway: GatewayFactory
) -> None:
    await source.apply("abc", *full_product("abc"))
    async with following(gateway, STOCK) as subscribed:
        updates = subscribed.updates
        first = await anext(updates)
        burst: list[tuple[SourceTopic, dict[str, Any] | None]] = [
            (kinds.INVENTORY, delta(5, minutes=n)) for n in range(1, 21)
        ]
        last_version = await source.apply_in_one_batch("abc", burst)
        received = [await asyncio.wait_for(anext(updates), 10)]
        while received[-1]["stockChanged"]["version"] < last_version:
            received.append(await asyncio.wait_for(anext(updates), 10))
    assert first["stockChanged"]["version"] == 4
    assert received[-1]["stockChanged"] == {
        "productId": "abc",
        "version": 24,
        "stock": {"available": 103},
    }
    # Twenty changes, one record batch: the subscriber got the newest, not a queue.
    assert len(received) < 20


async def test_list_pages_follow_several_products_within_a_cap(
    source: Source, gateway: GatewayFactory
) -> None:
    for product_id in ("a", "b"):
        await source.apply(product_id, *full_product(product_id))
    query = (
        'subscription { stocksChanged(productIds: ["a", "b"]) { productId stock { available } } }'
    )
    async with following(gateway, query, ws_max_products_per_subscription=2) as subscribed:
        live, updates = subscribed.live, subscribed.updates
        initial = {(await anext(updates))["stocksChanged"]["productId"] for _ in range(2)}
        await source.apply("b", (kinds.INVENTORY, delta(-3, "b", minutes=1)))
        change = await asyncio.wait_for(anext(updates), 10)
        three = 'subscription { stocksChanged(productIds: ["a", "b", "c"]) { productId } }'
        with pytest.raises(TransportQueryError, match="between 1 and 2"):
            await anext(live.subscribe(gql(three)))
    assert initial == {"a", "b"}
    assert change["stocksChanged"] == {"productId": "b", "stock": {"available": 0}}


@pytest.mark.outage
async def test_no_gap_across_a_broker_outage(
    stack: DevStack, source: Source, gateway: GatewayFactory
) -> None:
    assert stack.broker is not None
    await source.apply("abc", *full_product("abc"))
    async with following(gateway, STOCK) as subscribed:
        http, updates = subscribed.http, subscribed.updates
        first = await anext(updates)
        stack.broker.process.suspend()
        try:
            ready = await eventually(lambda: http.get("/readyz"), lambda r: r.status_code == 503)
        finally:
            stack.broker.process.resume()
        for minute in (1, 2, 3):
            await source.apply("abc", (kinds.INVENTORY, delta(-1, minutes=minute)))
        seen = [first["stockChanged"]]
        while seen[-1]["version"] < 7:
            seen.append((await asyncio.wait_for(anext(updates), 20))["stockChanged"])
    assert "kafka" in ready.json()["failing"]
    versions = [update["version"] for update in seen]
    assert versions == sorted(versions) and versions[0] == 4 and versions[-1] == 7
    assert seen[-1]["stock"] == {"available": 0}


async def test_connection_and_subscription_limits(source: Source, gateway: GatewayFactory) -> None:
    await source.apply("abc", *full_product("abc"))
    async with following(
        gateway, STOCK, ws_max_connections=1, ws_max_subscriptions_per_connection=1
    ) as subscribed:
        http, live, updates = subscribed.http, subscribed.live, subscribed.updates
        await anext(updates)
        with pytest.raises(TransportQueryError, match="At most 1 subscriptions"):
            await anext(live.subscribe(gql(STOCK)))
        with pytest.raises(TransportError):
            async with session(http) as second:
                await anext(second.subscribe(gql(STOCK)))


async def test_idle_connections_are_closed(gateway: GatewayFactory) -> None:
    async with gateway(ws_idle_timeout_s=0.5) as http:
        transport = WebsocketsTransport(url=f"ws://127.0.0.1:{http.base_url.port}/graphql")
        await transport.connect()
        try:
            await asyncio.sleep(3)
            with pytest.raises(TransportError):
                await transport.execute(gql("{ __typename }"))
        finally:
            await transport.close()


async def test_a_restarted_changelog_reader_rereads_what_it_missed(
    source: Source, gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    await source.apply("abc", *full_product("abc"))
    async with following(gateway, STOCK) as subscribed:
        first = await anext(subscribed.updates)
        # A change the reader never sees on the changelog: stored while it was away.
        await source.apply_quietly("abc", (kinds.INVENTORY, delta(-3, minutes=1)))
        failures = fail_changelog_fetch_once(monkeypatch)
        change = await asyncio.wait_for(anext(subscribed.updates), 20)
    assert failures
    assert first["stockChanged"]["stock"] == {"available": 3}
    assert change["stockChanged"]["stock"] == {"available": 0}


async def test_partitions_added_to_the_changelog_are_read(
    stack: DevStack, topics: TopicNames, source: Source, gateway: GatewayFactory
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap_servers)
    await admin.start()
    try:
        await source.apply("abc", *full_product("abc"))
        async with following(gateway, STOCK, changelog_partition_refresh_s=0.2) as subscribed:
            await anext(subscribed.updates)
            try:
                await admin.create_partitions(
                    {topics.changelog: NewPartitions(TEST_PARTITIONS + 1)}
                )
            except IncompatibleBrokerVersion:
                pytest.skip("the broker cannot add partitions (the Tansu stand-in cannot)")
            doc = await source.apply_quietly("abc", (kinds.INVENTORY, delta(-1, minutes=1)))
            record = changelog_record(topics.changelog, "abc", doc, CORE.sections)
            await source._producer.send_and_wait(
                record.topic, record.value, key=record.key, partition=TEST_PARTITIONS
            )
            change = await asyncio.wait_for(anext(subscribed.updates), 20)
        assert change["stockChanged"]["stock"] == {"available": 2}
    finally:
        await admin.close()


async def test_a_partition_the_reader_did_not_know_at_start_is_followed(
    topics: TopicNames,
    source: Source,
    gateway: GatewayFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Tansu cannot add partitions, so the reader starts with a view of the topic that
    # lacks its last partition, as if that partition had been added afterwards; the
    # periodic refresh must find it and read it from its beginning.
    real_partitions = changelog_reading.partitions_of

    async def all_but_the_last(consumer: AIOKafkaConsumer, topic: str) -> Any:
        return (await real_partitions(consumer, topic))[:-1]

    monkeypatch.setattr(live, "partitions_of", all_but_the_last)
    await source.apply("abc", *full_product("abc"))
    async with following(gateway, STOCK, changelog_partition_refresh_s=0.2) as subscribed:
        await anext(subscribed.updates)
        doc = await source.apply_quietly("abc", (kinds.INVENTORY, delta(-1, minutes=1)))
        record = changelog_record(topics.changelog, "abc", doc, CORE.sections)
        await source._producer.send_and_wait(
            record.topic, record.value, key=record.key, partition=TEST_PARTITIONS - 1
        )
        change = await asyncio.wait_for(anext(subscribed.updates), 20)
    assert change["stockChanged"]["stock"] == {"available": 2}


async def _metric(http: httpx.AsyncClient, name: str) -> float:
    for line in (await http.get("/metrics")).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not reported")


async def _frames(url: str, protocol: str, query: str) -> AsyncGenerator[dict[str, Any], None]:
    """The data frames of one subscription over a plain client, as parsed JSON."""
    import json

    from websockets.asyncio.client import connect

    start = "subscribe" if protocol == PROTOCOLS[0] else "start"
    async with connect(url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        await ws.send(json.dumps({"type": start, "id": "s", "payload": {"query": query}}))
        while True:
            frame = json.loads(await ws.recv(decode=True))
            if frame.get("id") == "s":
                yield frame


async def test_like_subscriptions_share_one_execution_on_both_protocols(
    source: Source, gateway: GatewayFactory
) -> None:
    await source.apply("abc", *full_product("abc"))
    other = 'subscription { stockChanged(productId: "abc") { version } }'
    async with gateway() as http:
        await hub_listening(http)
        url = f"ws://127.0.0.1:{http.base_url.port}/graphql"
        streams = [
            _frames(url, PROTOCOLS[0], STOCK),
            _frames(url, PROTOCOLS[1], STOCK),
            _frames(url, PROTOCOLS[0], other),
        ]
        try:
            firsts = [await asyncio.wait_for(anext(s), 10) for s in streams]
            assert await _metric(http, "shopwindow_live_groups") == 2
            before = await _metric(http, "shopwindow_live_executions")
            await source.apply("abc", (kinds.INVENTORY, delta(-1, minutes=1)))
            seconds = [await asyncio.wait_for(anext(s), 10) for s in streams]
            executed = await _metric(http, "shopwindow_live_executions") - before
        finally:
            for stream in streams:
                await stream.aclose()
    assert [f["type"] for f in firsts + seconds] == ["next", "data", "next"] * 2
    # One execution per group, and the same payload for both protocols' subscribers.
    assert executed == 2
    assert firsts[0]["payload"] == firsts[1]["payload"]
    assert seconds[0]["payload"] == seconds[1]["payload"]
    assert seconds[0]["payload"]["data"]["stockChanged"]["stock"] == {"available": 2}
    assert seconds[2]["payload"]["data"] == {"stockChanged": {"version": 5}}


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_deleted_product_ends_stock_and_nulls_product_until_it_comes_back(
    source: Source, gateway: GatewayFactory, protocol: str
) -> None:
    await source.apply("abc", *full_product("abc"))
    product = 'subscription { productChanged(id: "abc") { id version } }'
    async with gateway() as http:
        await hub_listening(http)
        async with session(http, protocol) as live:
            stock, followed = live.subscribe(gql(STOCK)), live.subscribe(gql(product))
            assert (await anext(stock))["stockChanged"]["version"] == 4
            assert (await anext(followed))["productChanged"] == {"id": "abc", "version": 4}
            await source.apply("abc", (kinds.CATALOG, None))  # Hidden: the catalog left.
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(anext(stock), 10)  # Completed.
            assert (await asyncio.wait_for(anext(followed), 10))["productChanged"] is None
            await source.apply("abc", *full_product("abc")[:1])  # Listed again.
            back = await asyncio.wait_for(anext(followed), 10)
            again = await asyncio.wait_for(anext(live.subscribe(gql(STOCK))), 10)
    assert back["productChanged"]["version"] > 5
    assert again["stockChanged"]["version"] == back["productChanged"]["version"]


HOSTILE_LIVE: list[tuple[dict[str, Any], str]] = [
    # (variables, expected error code): each answered with an error for its id alone.
    ({"id": None}, "BAD_USER_INPUT"),
    ({"id": ["a"]}, "BAD_USER_INPUT"),
    ({"id": {"$gt": ""}}, "BAD_USER_INPUT"),
    ({}, "BAD_USER_INPUT"),
    ({"ids": [f"p{n}" for n in range(51)]}, "BAD_USER_INPUT"),
    ({"ids": []}, "BAD_USER_INPUT"),
    ({"id": "abc", "after": [{"topic": "no-such", "partition": 0, "offset": 1}]}, "BAD_USER_INPUT"),
    ({"id": "abc", "after": [{"topic": "x", "partition": 0, "offset": "-1"}]}, "BAD_USER_INPUT"),
    ({"id": "abc", "sku": ""}, "BAD_USER_INPUT"),
    ({"id": "abc", "sku": "x" * 10_240}, "BAD_USER_INPUT"),
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_hostile_live_subscriptions_get_an_error_and_the_connection_goes_on(
    source: Source, gateway: GatewayFactory, protocol: str
) -> None:
    import json

    from websockets.asyncio.client import connect

    await source.apply("abc", *full_product("abc"))
    one = (
        "subscription S($id: ID!, $after: [SourcePositionInput!], $sku: String) "
        "{ stockChanged(productId: $id, after: $after, sku: $sku) { version } }"
    )
    many = "subscription M($ids: [ID!]!) { stocksChanged(productIds: $ids) { version } }"
    start = "subscribe" if protocol == PROTOCOLS[0] else "start"
    async with gateway() as http:
        await hub_listening(http)
        url = f"ws://127.0.0.1:{http.base_url.port}/graphql"
        async with connect(url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            for n, (variables, code) in enumerate(HOSTILE_LIVE):
                query = many if "ids" in variables else one
                payload = {"query": query, "variables": variables}
                await ws.send(json.dumps({"type": start, "id": f"h{n}", "payload": payload}))
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(decode=True), 10))
                    if frame.get("id") == f"h{n}":
                        break
                assert frame["type"] == "error", (variables, frame)
                errors = (
                    frame["payload"] if isinstance(frame["payload"], list) else [frame["payload"]]
                )
                assert errors[0]["extensions"]["code"] == code, (variables, errors)
                assert "Traceback" not in json.dumps(frame)
            # The connection still serves a good subscription.
            good = {"query": one, "variables": {"id": "abc"}}
            await ws.send(json.dumps({"type": start, "id": "ok", "payload": good}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(decode=True), 10))
                if frame.get("id") == "ok":
                    break
    assert frame["payload"]["data"] == {"stockChanged": {"version": 4}}


async def test_connections_that_vanish_leave_no_groups_behind(
    source: Source, gateway: GatewayFactory
) -> None:
    import json

    from websockets.asyncio.client import connect

    for product_id in ("a", "b"):
        await source.apply(product_id, *full_product(product_id))
    async with gateway() as http:
        await hub_listening(http)
        url = f"ws://127.0.0.1:{http.base_url.port}/graphql"
        for protocol in PROTOCOLS:
            start = "subscribe" if protocol == PROTOCOLS[0] else "start"
            ws = await connect(url, subprotocols=[protocol])  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            for n, product_id in enumerate(("a", "b", "a", "nope")):
                query = f'subscription {{ stockChanged(productId: "{product_id}") {{ version }} }}'
                frame = {"type": start, "id": f"{n}", "payload": {"query": query}}
                await ws.send(json.dumps(frame))
            await eventually(
                lambda: _metric(http, "shopwindow_live_groups"), lambda groups: groups == 2
            )
            assert ws.transport is not None
            ws.transport.abort()  # Gone without a close frame.
            await eventually(
                lambda: _metric(http, "shopwindow_live_groups"), lambda groups: groups == 0
            )
            await ws.close()


async def test_a_failed_first_read_after_a_wait_ends_that_subscription_alone(
    source: Source, gateway: GatewayFactory, topics: TopicNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shopwindow.gateway.reads.loaders import ProductDocuments

    async def down(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("mongodb://admin:hunter2@db is down")

    await source.apply("abc", *full_product("abc"))
    query = (
        "subscription($after: [SourcePositionInput!]) "
        '{ stockChanged(productId: "abc", after: $after) { version } }'
    )
    after = [{"topic": kinds.INVENTORY.name_in(topics), "partition": 0, "offset": 0}]
    async with gateway(consistency_wait_ms=50) as http:
        await hub_listening(http)
        monkeypatch.setattr(ProductDocuments, "by_ids", down)
        for protocol in (TRANSPORT_WS, LEGACY_WS):
            body = await WebSocket(protocol).run(http, query, {"after": after})
            [error] = body["errors"]
            assert error["extensions"]["code"] == "INTERNAL" and error["extensions"]["requestId"]
            assert "hunter2" not in json.dumps(body)


def _variant_stock(sku: str) -> str:
    return (
        f'subscription {{ stockChanged(productId: "abc", sku: "{sku}") '
        "{ sku version stock { available } } }"
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_variants_stock_is_followed_by_sku_and_ends_when_the_catalog_drops_it(
    source: Source, gateway: GatewayFactory, protocol: str
) -> None:
    await source.apply(
        "abc",
        (kinds.CATALOG, {**catalog(), **sizes(["M", "L"])}),
        (kinds.INVENTORY, {**stock_take(3), "sku": "M"}),
        (kinds.INVENTORY, {**stock_take(7), "sku": "L"}),
    )
    async with gateway() as http:
        await hub_listening(http)
        async with session(http, protocol) as live:
            medium = live.subscribe(gql(_variant_stock("M")))
            large = live.subscribe(gql(_variant_stock("L")))
            whole = live.subscribe(gql(STOCK))
            firsts = [await anext(medium), await anext(large), await anext(whole)]
            await source.apply("abc", (kinds.INVENTORY, {**delta(-1, minutes=1), "sku": "L"}))
            large_sold = await asyncio.wait_for(anext(large), 10)
            whole_sold = await asyncio.wait_for(anext(whole), 10)
            # L leaves the catalog: its subscription completes, M's goes on.
            await source.apply("abc", (kinds.CATALOG, {**catalog(minutes=2), **sizes(["M"])}))
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(anext(large), 10)
            await source.apply("abc", (kinds.INVENTORY, {**delta(-2, minutes=3), "sku": "M"}))
            medium_sold = await asyncio.wait_for(anext(medium), 10)
    assert [f["stockChanged"]["stock"]["available"] for f in firsts] == [3, 7, 10]
    assert [f["stockChanged"].get("sku") for f in firsts[:2]] == ["M", "L"]
    assert large_sold["stockChanged"]["stock"] == {"available": 6}
    assert whole_sold["stockChanged"]["stock"] == {"available": 9}
    assert medium_sold["stockChanged"]["stock"] == {"available": 1}
    assert medium_sold["stockChanged"]["sku"] == "M"
