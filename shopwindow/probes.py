"""``/healthz``, ``/readyz`` and ``/metrics``, the same for both roles."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# A readiness check returns the names of the dependencies that fail, empty when ready.
ReadinessCheck = Callable[[], Awaitable[list[str]]]


def probe_routes(readiness: ReadinessCheck, registry: CollectorRegistry) -> list[Route]:
    """Routes for the liveness, readiness and metrics endpoints.

    Args:
        readiness: Lists failing dependencies.
        registry: The metrics to expose.

    Returns:
        Starlette routes to mount at the root.
    """

    # What /readyz answers, for Prometheus, which scrapes /metrics alone: computed at
    # each scrape, so an alert on it sees what a kubelet would.
    ready = Gauge(
        "shopwindow_readiness",
        "1 while /readyz answers 200; 0 while a dependency it checks fails.",
        registry=registry,
    )

    # Counted at each scrape: a count that only grows under steady load is a leak (a
    # task per connection or subscription never ended), which `make soak` looks for.
    tasks = Gauge(
        "shopwindow_asyncio_tasks",
        "Tasks on the process's event loop when /metrics was asked.",
        registry=registry,
    )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        failing = await readiness()
        if failing:
            return JSONResponse({"status": "unavailable", "failing": failing}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics(request: Request) -> Response:
        ready.set(0 if await readiness() else 1)
        tasks.set(len(asyncio.all_tasks()))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
