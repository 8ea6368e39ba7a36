"""HttpServer: a request that never ends does not hold stop() forever."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shopwindow.http_server import HttpServer


async def test_stop_cancels_a_request_still_open_after_the_shutdown_timeout() -> None:
    entered, cancelled = asyncio.Event(), asyncio.Event()

    async def never_answers(request: Request) -> Response:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    server = HttpServer(
        Starlette(routes=[Route("/", never_answers)]), "127.0.0.1", 0, shutdown_timeout_s=1
    )
    await server.start()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
        asking = asyncio.create_task(client.get("/", timeout=30))
        await asyncio.wait_for(entered.wait(), 10)
        # Without the shutdown timeout, uvicorn waits for the request forever.
        await asyncio.wait_for(server.stop(), 10)
        assert cancelled.is_set()
        await asyncio.gather(asking, return_exceptions=True)
