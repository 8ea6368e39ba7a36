"""The probe endpoints both roles share: the task count on /metrics."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from shopwindow.probes import probe_routes
from tests.gateway.conftest import sample


async def ready() -> list[str]:
    return []


async def tasks_reported(http: httpx.AsyncClient) -> float:
    return await sample(http, "shopwindow_asyncio_tasks")


async def test_metrics_count_the_tasks_on_the_loop_at_each_scrape() -> None:
    app = Starlette(routes=probe_routes(ready, CollectorRegistry()))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as http:
        before = await tasks_reported(http)
        assert before == len(asyncio.all_tasks())
        left_running = [asyncio.create_task(asyncio.Event().wait()) for _ in range(7)]
        assert await tasks_reported(http) == before + 7
        for task in left_running:
            task.cancel()
        await asyncio.gather(*left_running, return_exceptions=True)
        assert await tasks_reported(http) == before
