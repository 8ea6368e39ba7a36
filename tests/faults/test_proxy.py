"""The fault proxy does what each scenario relies on, against an echo server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from tests.faults.proxy import FaultProxy


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[FaultProxy]:
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    made = FaultProxy(("127.0.0.1", port))
    await made.start()
    yield made
    await made.stop()
    server.close()
    await server.wait_closed()


async def round_trip(proxy: FaultProxy, payload: bytes = b"ping") -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        started = time.perf_counter()
        writer.write(payload)
        await writer.drain()
        assert await asyncio.wait_for(reader.readexactly(len(payload)), 10) == payload
        return time.perf_counter() - started
    finally:
        writer.close()
        await writer.wait_closed()


async def test_bytes_pass_unchanged_and_in_order(proxy: FaultProxy) -> None:
    proxy.faults.delayed_fraction, proxy.faults.delay_s = 0.5, 0.01
    payload = bytes(range(256)) * 4096  # 1 MiB in many chunks, half of them delayed.
    await round_trip(proxy, payload)


async def test_latency_is_added_each_way(proxy: FaultProxy) -> None:
    proxy.faults.latency_s = 0.15
    assert await round_trip(proxy) >= 0.3


async def test_a_reset_reaches_the_client_as_one(proxy: FaultProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"x")
    assert await reader.readexactly(1) == b"x"
    assert proxy.reset_all() == 1
    with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
        await asyncio.wait_for(reader.readexactly(1), 5)
    writer.close()


async def test_a_half_open_connection_stays_open_and_answers_nothing(proxy: FaultProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"x")
    assert await reader.readexactly(1) == b"x"
    assert proxy.freeze_all() == 1
    writer.write(b"y")
    await writer.drain()  # Accepted: the peer looks alive.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(1), 0.5)
    assert not reader.at_eof()
    writer.close()
    # New connections are forwarded again unless the proxy says otherwise.
    await round_trip(proxy)
    proxy.faults.half_open = True
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(round_trip(proxy), 0.5)


async def test_freezing_can_spare_the_first_connections(proxy: FaultProxy) -> None:
    opened = [await asyncio.open_connection("127.0.0.1", proxy.port) for _ in range(3)]
    for reader, writer in opened:
        writer.write(b"x")
        assert await reader.readexactly(1) == b"x"
    assert proxy.freeze_all(sparing_first=1) == 2
    (first_reader, first_writer), *frozen = opened
    first_writer.write(b"y")
    assert await asyncio.wait_for(first_reader.readexactly(1), 5) == b"y"
    for reader, writer in frozen:
        writer.write(b"y")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), 0.3)
    for _, writer in opened:
        writer.close()


async def test_an_upstream_that_is_down_refuses_through_the_proxy() -> None:
    made = FaultProxy(("127.0.0.1", 1))  # Nothing listens on port 1 of loopback.
    await made.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", made.port)
        try:
            assert await asyncio.wait_for(reader.read(1), 5) == b""
        except ConnectionResetError:
            pass  # Closed either way: at once, not after a timeout.
        writer.close()
    finally:
        await made.stop()
