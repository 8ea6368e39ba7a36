"""The gateway's request bounds: its settings, its metric, the WebSocket handshake, and
hundreds of clients holding connections against one gateway with its memory bounded.

The protocol's own cases are in ``tests/shopwindow/test_request_bounds.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
import tracemalloc

from tests.gateway.conftest import GatewayFactory
from tests.shopwindow.test_request_bounds import connection

WATCHDOG_S = 60
HANDSHAKE = (
    "GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Protocol: graphql-transport-ws\r\n"
)


def refused(metrics: str, reason: str) -> float:
    found = re.search(rf'shopwindow_http_refused_total\{{reason="{reason}"\}} (\S+)', metrics)
    assert found, metrics
    return float(found.group(1))


async def status_of(port: int, request: bytes) -> bytes:
    """The status line the gateway answers ``request`` with, read while sending."""
    async with connection(port) as (reader, writer):
        status = asyncio.create_task(reader.readline())
        with contextlib.suppress(ConnectionError):
            writer.write(request)
            await writer.drain()
        async with asyncio.timeout(WATCHDOG_S):
            return await status


async def test_a_large_head_is_431_on_graphql_and_the_websocket_handshake(
    gateway: GatewayFactory,
) -> None:
    padding = "X-Pad: " + "a" * 20_000 + "\r\n"
    async with gateway(max_header_bytes=16 * 1024) as http:
        port = http.base_url.port
        assert port is not None
        post = f"POST /graphql HTTP/1.1\r\nHost: x\r\n{padding}\r\n".encode()
        assert (await status_of(port, post)).startswith(b"HTTP/1.1 431 ")
        upgrade = f"{HANDSHAKE}{padding}\r\n".encode()
        assert (await status_of(port, upgrade)).startswith(b"HTTP/1.1 431 ")
        # A token padded to a megabyte is never parsed, let alone verified.
        token = f"POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {'e' * 2**20}\r\n"
        assert (await status_of(port, token.encode())).startswith(b"HTTP/1.1 431 ")
        # Under the bound, the same handshake upgrades.
        upgraded = await status_of(port, f"{HANDSHAKE}\r\n".encode())
        assert upgraded.startswith(b"HTTP/1.1 101 ")
        metrics = (await http.get("/metrics")).text
    assert refused(metrics, "head_too_large") == 3
    assert refused(metrics, "head_timeout") == 0


async def test_a_trickled_body_is_408_and_counted(gateway: GatewayFactory) -> None:
    async with gateway(body_timeout_ms=300) as http:
        port = http.base_url.port
        assert port is not None
        request = (
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"query": "{'
        )
        assert (await status_of(port, request)).startswith(b"HTTP/1.1 408 ")
        # The gateway still answers everyone else.
        ok = await http.post("/graphql", json={"query": "{ __typename }"})
        assert ok.status_code == 200
        metrics = (await http.get("/metrics")).text
    assert refused(metrics, "body_timeout") == 1


async def hold(port: int, head: bytes, answers: list[bytes], more: int = 0) -> None:
    """One client: sends ``head`` (a head or part of one), then ``more`` bytes of it in
    drained 64 KiB writes (so that it buffers little itself), then nothing, and keeps
    what the gateway answers until it closes the connection."""
    async with connection(port) as (reader, writer):
        with contextlib.suppress(ConnectionError):
            writer.write(head)
            await writer.drain()
            for _ in range(more // 65536):
                writer.write(b"a" * 65536)
                await writer.drain()
        with contextlib.suppress(ConnectionError):
            answers.append(await reader.read())


async def test_hundreds_of_stalled_clients_hold_bounded_memory_and_are_let_go(
    gateway: GatewayFactory,
) -> None:
    """300 clients that each send 15 KiB of a head and stall, and 100 that each try to
    send a megabyte of one header: at its peak the process (gateway and clients) holds
    about the bound for each, and the gateway lets every one go."""
    stalled, flooding = 300, 100
    head = b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (15 * 1024)
    async with gateway(max_header_bytes=16 * 1024, header_timeout_ms=2000) as http:
        port = http.base_url.port
        assert port is not None
        gc.collect()
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            answers: list[bytes] = []
            clients = [asyncio.create_task(hold(port, head, answers)) for _ in range(stalled)]
            clients += [
                asyncio.create_task(hold(port, head, answers, more=2**20)) for _ in range(flooding)
            ]
            async with asyncio.timeout(WATCHDOG_S):
                await asyncio.gather(*clients)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        metrics = (await http.get("/metrics")).text
    # Without the bound the floods alone would be 100 MiB held, and the stalled clients
    # never let go.
    assert peak - before < (stalled + flooding) * 64 * 1024, peak - before
    assert sum(a.startswith(b"HTTP/1.1 431 ") for a in answers) == flooding
    assert sum(a.startswith(b"HTTP/1.1 408 ") for a in answers) == stalled
    assert refused(metrics, "head_too_large") == flooding
    assert refused(metrics, "head_timeout") == stalled
