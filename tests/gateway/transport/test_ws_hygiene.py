"""Both WebSocket protocols close cleanly on frames a client should never send, and
bound what a connection may hold, without an error in the log."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.gateway.conftest import GatewayFactory
from tests.gateway.transports import LEGACY_WS, TRANSPORT_WS
from tests.helpers import garbage_of_the_block

PROTOCOLS = [TRANSPORT_WS, LEGACY_WS]
START = {TRANSPORT_WS: "subscribe", LEGACY_WS: "start"}
INIT = json.dumps({"type": "connection_init", "payload": {}})


async def close_code(ws: ClientConnection, *frames: str | bytes) -> int | None:
    """Send the frames, then read until the server closes; its close code."""
    try:
        async with asyncio.timeout(10):
            for frame in frames:
                await ws.send(frame)
            while True:
                await ws.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        raise AssertionError("the server kept the connection open") from None


def start(protocol: str, operation_id: Any = "1", payload: Any = None) -> str:
    return json.dumps(
        {
            "type": START[protocol],
            "id": operation_id,
            "payload": payload if payload is not None else {"query": "{ __typename }"},
        }
    )


CASES: list[tuple[str, list[str | bytes], int]] = [
    ("unknown message type", [INIT, json.dumps({"type": "hello"})], 4400),
    ("a second connection_init", [INIT, INIT], 4429),
    ("a list", ["[1, 2]"], 4400),
    ("a number", ["1"], 4400),
    ("a string", ['"connection_init"'], 4400),
    ("null", ["null"], 4400),
    ("an object without a type", ["{}"], 4400),
    ("a type that is not a string", ['{"type": 7}'], 4400),
    ("not JSON", ["{"], 4400),
    ("JSON nested past the recursion limit", ["[" * 4000], 4400),
    ("binary", [b"\x00\x01"], 4400),
    # What HTTP's body parser refuses, the frame parser refuses too: one policy.
    (
        "lone surrogates in the variables",
        [
            INIT,
            '{"type": "subscribe", "id": "1", "payload": {"query": "{ a }", '
            '"variables": {"v": "\\ud800"}}}',
        ],
        4400,
    ),
    ("NaN", [INIT, '{"type": "connection_init", "payload": {"n": NaN}}'], 4400),
    ("a frame over the size limit", [INIT, "x" * 5000], 1009),
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(("frames", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_bad_frames_close_the_connection_cleanly(
    gateway: GatewayFactory,
    caplog: pytest.LogCaptureFixture,
    protocol: str,
    frames: list[str | bytes],
    expected: int,
) -> None:
    async with gateway(ws_max_message_bytes=4096) as http:
        url = f"ws://127.0.0.1:{http.base_url.port}/graphql"
        with caplog.at_level(logging.WARNING):
            async with connect(url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
                code = await close_code(ws, *frames)
    assert code == expected
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    "operation",
    [
        {"operation_id": "x" * 1000},
        {"operation_id": 7},
        {"operation_id": ""},
        {"payload": "query"},
        {"payload": {"query": 1}},
        {"payload": {"query": "{ a }", "variables": [1]}},
        {"payload": {"query": "{ a }", "operationName": {}}},
    ],
    ids=["long id", "numeric id", "empty id", "string payload", "query", "variables", "name"],
)
async def test_malformed_operations_close_the_connection(
    gateway: GatewayFactory, protocol: str, operation: dict[str, Any]
) -> None:
    async with gateway() as http:
        url = f"ws://127.0.0.1:{http.base_url.port}/graphql"
        async with connect(url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
            assert await close_code(ws, INIT, start(protocol, **operation)) == 4400


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_connection_init_has_a_deadline(gateway: GatewayFactory, protocol: str) -> None:
    async with gateway(ws_connection_init_timeout_s=0.3) as http:
        url = f"ws://127.0.0.1:{http.base_url.port}/graphql"
        async with connect(url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
            assert await close_code(ws) == 4408


async def test_the_legacy_protocol_refuses_the_newer_protocols_frames(
    gateway: GatewayFactory,
) -> None:
    # A "subscribe" frame once counted as an operation for the idle check, and a second
    # connection_init started a second keep-alive task.
    async with gateway() as http:
        url = f"ws://127.0.0.1:{http.base_url.port}/graphql"
        async with connect(url, subprotocols=[LEGACY_WS]) as ws:  # type: ignore[list-item]
            assert await close_code(ws, INIT, start(TRANSPORT_WS)) == 4400


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_idle_connections_are_closed_on_both_protocols(
    gateway: GatewayFactory, protocol: str
) -> None:
    async with gateway(ws_idle_timeout_s=0.5) as http:
        url = f"ws://127.0.0.1:{http.base_url.port}/graphql"
        async with connect(url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
            assert await close_code(ws, INIT) == 1001


# What a closed connection of ours must not leave for the collector (the gateway's
# tuning makes full collections rare): each holds the protocol's state and buffers.
CONNECTION_TYPES = ("_GuardedConnection", "LiveConnection", "Outbox", "WebSocketConnection")


async def test_a_closed_connection_leaves_no_cycle_of_ours(gateway: GatewayFactory) -> None:
    document = 'subscription { stockChanged(productId: "none") { productId } }'
    async with gateway() as http:
        url = f"ws://127.0.0.1:{http.base_url.port}/graphql"
        with garbage_of_the_block() as garbage:
            for protocol in PROTOCOLS * 3:
                async with connect(url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
                    await ws.send(INIT)
                    await ws.recv()  # connection_ack: the live connection is open.
                    await ws.send(start(protocol, payload={"query": document}))
                    await ws.recv()  # Its first answer: the product does not exist.
            await asyncio.sleep(0.5)  # The server side of the last one ends.
    assert {name: garbage[name] for name in CONNECTION_TYPES if garbage[name]} == {}
