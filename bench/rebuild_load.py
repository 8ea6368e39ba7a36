"""Clients reading and following products while a rebuild switches under them.

Shared by the rebuild's integration test and ``bench/rebuild.py``: HTTP readers that
count requests and failures, and live subscribers; both record the largest step back
of any product's version they saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
from websockets.asyncio.client import connect

READ = "query Read($ids: [ID!]!) { products(ids: $ids) { id version } }"
FOLLOW = (
    "subscription Follow($ids: [ID!]!) { stocksChanged(productIds: $ids) { productId version } }"
)


@dataclass
class Observed:
    """What the clients saw.

    Attributes:
        requests: HTTP requests answered.
        failures: Requests that failed: a transport error, a non-200 status, GraphQL
            errors, or a product missing that was there before.
        updates: Subscription updates received.
        largest_step_back: The largest drop of a product's version any one client saw.
    """

    requests: int = 0
    failures: int = 0
    updates: int = 0
    largest_step_back: int = 0
    failure_samples: list[str] = field(default_factory=list)

    def _saw(self, seen: dict[str, int], product_id: str, version: int) -> None:
        before = seen.get(product_id)
        if before is not None and version < before:
            self.largest_step_back = max(self.largest_step_back, before - version)
        seen[product_id] = max(version, before or version)

    def _failed(self, what: str) -> None:
        self.failures += 1
        if len(self.failure_samples) < 5:
            self.failure_samples.append(what[:300])


class ClientLoad:
    """``readers`` HTTP clients and ``subscribers`` WebSocket clients on ``base_url``.

    Use ``async with ClientLoad(...) as load:``; ``load.observed`` holds the counts.
    """

    def __init__(
        self, base_url: str, product_ids: Sequence[str], readers: int = 4, subscribers: int = 2
    ) -> None:
        self._base_url = base_url
        self._ids = list(product_ids)
        self._readers = readers
        self._subscribers = subscribers
        self.observed = Observed()
        self._tasks: list[asyncio.Task[None]] = []
        self._ready = asyncio.Event()
        self._subscribed = 0

    async def __aenter__(self) -> ClientLoad:
        self._tasks = [asyncio.create_task(self._read()) for _ in range(self._readers)]
        self._tasks += [asyncio.create_task(self._follow()) for _ in range(self._subscribers)]
        if self._subscribers:
            await asyncio.wait_for(self._ready.wait(), 30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _read(self) -> None:
        seen: dict[str, int] = {}
        observed = self.observed
        async with httpx.AsyncClient(base_url=self._base_url, timeout=10) as http:
            while True:
                try:
                    response = await http.post(
                        "/graphql", json={"query": READ, "variables": {"ids": self._ids}}
                    )
                except httpx.HTTPError as error:
                    observed._failed(f"{type(error).__name__}: {error}")
                    continue
                observed.requests += 1
                body = response.json() if response.status_code == 200 else None
                if body is None or body.get("errors"):
                    observed._failed(f"{response.status_code}: {response.text}")
                    continue
                for product_id, product in zip(self._ids, body["data"]["products"], strict=True):
                    if product is None:
                        if product_id in seen:
                            observed._failed(f"{product_id} missing")
                        continue
                    observed._saw(seen, product_id, product["version"])

    async def _follow(self) -> None:
        seen: dict[str, int] = {}
        url = self._base_url.replace("http://", "ws://") + "/graphql"
        async with connect(url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
            await socket.send(json.dumps({"type": "connection_init"}))
            await socket.recv()
            payload = {"query": FOLLOW, "variables": {"ids": self._ids}}
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            self._subscribed += 1
            if self._subscribed == self._subscribers:
                self._ready.set()
            async for raw in socket:
                message = json.loads(raw)
                if message["type"] == "ping":
                    await socket.send(json.dumps({"type": "pong"}))
                elif message["type"] == "next":
                    update = message["payload"].get("data", {}).get("stocksChanged")
                    if update is None:
                        self.observed._failed(f"subscription: {message['payload']}")
                        continue
                    self.observed.updates += 1
                    self.observed._saw(seen, update["productId"], update["version"])
                else:
                    self.observed._failed(f"subscription ended: {message}")
                    return
