"""Request bounds, over real sockets: the head's bytes, and how long the head and the
body may take. The socket is what is tested, so clients speak raw HTTP/1.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse

from shopwindow.http_server import HttpServer
from shopwindow.request_bounds import (
    BODY_TIMEOUT,
    HEAD_TIMEOUT,
    HEAD_TOO_LARGE,
    IDLE,
    RequestBounds,
)

BOUND = 4096
# Short, so that the refusals come quickly; each test waits on the closed connection,
# under a watchdog far above these.
BOUNDS = RequestBounds(max_head_bytes=BOUND, head_timeout_s=0.3, body_timeout_s=0.3)
WATCHDOG_S = 20


class Served:
    """A server within ``BOUNDS``, what it refused, and whether its app saw a client go."""

    def __init__(self) -> None:
        self.refusals: list[str] = []
        self.disconnected = asyncio.Event()
        self.port = 0

    async def app(self, scope: dict[str, object], receive: object, send: object) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)  # type: ignore[arg-type]
        body = b""
        try:
            async for chunk in request.stream():
                body += chunk
        except ClientDisconnect:
            self.disconnected.set()
            return
        response = PlainTextResponse(f"{len(body)}")
        await response(scope, receive, send)  # type: ignore[arg-type]


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    state = Served()
    server = HttpServer(
        state.app,
        "127.0.0.1",
        0,
        bounds=BOUNDS,
        refused=state.refusals.append,
        interface="asgi3",
        timeout_keep_alive=1,
    )
    await server.start()
    state.port = server.port
    try:
        yield state
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def connection(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def answer_and_close(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    async with asyncio.timeout(WATCHDOG_S):
        with contextlib.suppress(ConnectionResetError):
            return await reader.read()
    return b""


def head(*headers: str, target: str = "/", method: str = "GET") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: x", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def send_ignoring_reset(writer: asyncio.StreamWriter, data: bytes) -> None:
    # The server may close before all is sent: that is the point.
    with contextlib.suppress(ConnectionError):
        writer.write(data)
        await writer.drain()


@pytest.mark.parametrize(
    "request_head",
    [
        head("X-Big: " + "a" * (BOUND * 2)),
        head(*(f"X-{n}: " + "a" * 200 for n in range(40))),  # each far under the bound
        head(target="/" + "a" * (BOUND * 2)),
        head("Authorization: Bearer " + "e" * 1_000_000),  # a token padded to 1 MB
    ],
    ids=["one header", "many headers", "the target", "a megabyte"],
)
async def test_a_head_past_the_bound_is_431_and_closed(served: Served, request_head: bytes) -> None:
    async with connection(served.port) as (reader, writer):
        await send_ignoring_reset(writer, request_head)
        answer = await answer_and_close(reader)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert served.refusals == [HEAD_TOO_LARGE]


async def test_a_head_that_never_ends_is_refused_at_the_bound(served: Served) -> None:
    """One header of up to 50 MB, sent as fast as the socket takes it while the client
    reads: it gets 431 after about the bound, not after the 50 MB."""
    async with connection(served.port) as (reader, writer):
        status = asyncio.create_task(reader.readline())
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        with contextlib.suppress(ConnectionError):
            async with asyncio.timeout(WATCHDOG_S):
                while sent < 50 * 1024 * 1024 and not status.done():
                    writer.write(b"a" * 65536)
                    await writer.drain()
                    sent += 65536
        assert (await status).startswith(b"HTTP/1.1 431 ")
    # The status came within the linger's megabyte of the bound, whatever the client sent.
    assert sent < 4 * 1024 * 1024
    assert served.refusals == [HEAD_TOO_LARGE]


async def test_a_head_at_the_bound_is_served(served: Served) -> None:
    request_head = head("X-Pad: ")
    padded = head("X-Pad: " + "a" * (BOUND - len(request_head)))
    assert len(padded) == BOUND
    async with connection(served.port) as (reader, writer):
        writer.write(padded)
        status = await reader.readline()
    assert status.startswith(b"HTTP/1.1 200 ")
    assert served.refusals == []


async def test_the_bound_is_per_request_on_a_kept_alive_connection(served: Served) -> None:
    """Three heads of 60 % of the bound each, one after another and then pipelined."""
    three_fifths = head("X-Pad: " + "a" * (BOUND * 3 // 5))
    async with connection(served.port) as (reader, writer):
        for _ in range(3):
            writer.write(three_fifths)
            assert (await reader.readline()).startswith(b"HTTP/1.1 200 ")
            await reader.readuntil(b"\r\n\r\n0")  # the rest of the head, and the body
        writer.write(three_fifths * 2)
        answers = b""
        async with asyncio.timeout(WATCHDOG_S):
            while answers.count(b"HTTP/1.1 200 ") < 2:
                answers += await reader.read(65536)
    assert served.refusals == []


async def test_a_body_in_the_heads_packet_is_not_counted_as_head(served: Served) -> None:
    body = b"b" * (BOUND * 4)
    request = head(f"Content-Length: {len(body)}", method="POST") + body
    async with connection(served.port) as (reader, writer):
        writer.write(request)  # One write: the head and the body arrive together.
        answer = await reader.readuntil(str(len(body)).encode())
    assert answer.startswith(b"HTTP/1.1 200 ")


async def test_a_trickled_head_is_408_and_closed(served: Served) -> None:
    async with connection(served.port) as (reader, writer):
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        await writer.drain()
        answer = await answer_and_close(reader)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert served.refusals == [HEAD_TIMEOUT]


async def test_a_connection_that_sends_nothing_is_closed(served: Served) -> None:
    async with connection(served.port) as (reader, _):
        answer = await answer_and_close(reader)
    assert answer == b""
    assert served.refusals == [IDLE]


async def test_a_trickled_body_is_408_and_the_app_sees_the_client_go(served: Served) -> None:
    async with connection(served.port) as (reader, writer):
        writer.write(head("Content-Length: 1000", method="POST") + b"x" * 10)
        await writer.drain()
        answer = await answer_and_close(reader)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert served.refusals == [BODY_TIMEOUT]
    async with asyncio.timeout(WATCHDOG_S):
        await served.disconnected.wait()


async def test_an_answered_connection_is_left_to_keep_alive(served: Served) -> None:
    """The head deadline runs from a request's first byte: a connection idle after its
    answer is uvicorn's keep-alive timer's, not a 408."""
    async with connection(served.port) as (reader, writer):
        writer.write(head())
        assert (await reader.readline()).startswith(b"HTTP/1.1 200 ")
        answer = await answer_and_close(reader)
    assert b"408" not in answer
    assert served.refusals == []
