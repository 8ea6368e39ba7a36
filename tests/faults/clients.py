"""The clients of a fault scenario, and what they saw.

HTTP readers stay on one gateway each, as a keep-alive connection does. Subscribers use
both WebSocket protocols and, when their connection fails, reconnect to the other
gateway, as the reference graphql-ws client's retry does. A sampler asks every role's
``/readyz`` twice a second, so that each 503 a reader got can be held against what
the gateway said about itself at that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tests.faults.deployment import Role

READ = "query Read($ids: [ID!]!) { products(ids: $ids) { id version } }"
FOLLOW = (
    "subscription Follow($ids: [ID!]!) {"
    " stocksChanged(productIds: $ids) { productId version stock { available status } } }"
)
PROTOCOLS = ("graphql-transport-ws", "graphql-ws")
SAMPLES = 12
PING_INTERVAL_S = 10.0
LEGACY_SILENCE_S = 35.0  # Over twice the gateway's default keep-alive interval (15 s).


@dataclass
class Seen:
    """What every client saw, summed."""

    served: int = 0
    served_during_fault: int = 0
    without_freshness: int = 0  # Answers whose extensions.freshness is missing or malformed.
    unavailable: list[tuple[str, float]] = field(default_factory=list)  # (gateway, when)
    failed: int = 0
    server_errors: int = 0  # 5xx other than 503: never allowed.
    updates: int = 0
    reconnects: int = 0
    largest_step_back: int = 0
    samples: list[str] = field(default_factory=list)

    def step(self, versions: dict[str, int], product_id: str, version: int) -> None:
        before = versions.get(product_id)
        if before is not None and version < before:
            self.largest_step_back = max(self.largest_step_back, before - version)
        versions[product_id] = max(version, before or version)

    def note(self, what: str) -> None:
        if len(self.samples) < SAMPLES:
            self.samples.append(what[:240])


def fresh_as_said(body: dict[str, Any]) -> bool:
    """Whether an answer says how fresh it is: ``extensions.freshness`` with the oldest
    ``materializedAt`` of its products and the replica's changelog lag (``null`` while
    its reader is not reading)."""
    freshness = (body.get("extensions") or {}).get("freshness") or {}
    lag = freshness.get("changelogLag", "absent")
    return isinstance(freshness.get("oldestMaterializedAt"), str) and (
        lag is None or (isinstance(lag, int) and lag >= 0)
    )


class Readiness:
    """Every role's ``/readyz``, sampled; ``unready_near`` answers for a moment."""

    def __init__(self, roles: Sequence[Role]) -> None:
        self._roles = roles
        self.samples: dict[str, list[tuple[float, bool]]] = {role.name: [] for role in roles}

    async def run(self) -> None:
        async with httpx.AsyncClient() as http:
            while True:
                ready = await asyncio.gather(*(role.ready(http) for role in self._roles))
                now = time.monotonic()
                for role, answer in zip(self._roles, ready, strict=True):
                    self.samples[role.name].append((now, answer))
                await asyncio.sleep(0.5)

    def unready_near(self, role: str, when: float, within_s: float = 3.0) -> bool:
        """Whether ``role`` said it was not ready within ``within_s`` of ``when``."""
        return any(not ready and abs(at - when) <= within_s for at, ready in self.samples[role])


class Clients:
    """Readers and subscribers on the gateways; ``async with`` runs them."""

    def __init__(
        self, gateways: Sequence[Role], product_ids: Sequence[str], readers_per_gateway: int = 2
    ) -> None:
        self._gateways = list(gateways)
        self._ids = list(product_ids)
        self._readers = readers_per_gateway
        self.seen = Seen()
        self.faulting = False  # Set by the harness while the fault is on.
        # Per subscriber: the latest update of each product, across reconnects.
        self.latest: list[dict[str, dict[str, Any]]] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Clients:
        for gateway in self._gateways:
            self._tasks += [asyncio.create_task(self._read(gateway)) for _ in range(self._readers)]
        for n, protocol in enumerate(PROTOCOLS * len(self._gateways)):
            latest: dict[str, dict[str, Any]] = {}
            self.latest.append(latest)
            self._tasks.append(asyncio.create_task(self._follow(n, protocol, latest)))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _read(self, gateway: Role) -> None:
        versions: dict[str, int] = {}
        seen = self.seen
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
            while True:
                try:
                    response = await http.post(
                        "/graphql", json={"query": READ, "variables": {"ids": self._ids}}
                    )
                except httpx.HTTPError as error:
                    seen.failed += 1
                    seen.note(f"{gateway.name}: {type(error).__name__}: {error}")
                    await asyncio.sleep(0.2)
                    continue
                if response.status_code == 503:
                    seen.unavailable.append((gateway.name, time.monotonic()))
                    await asyncio.sleep(0.2)
                    continue
                if response.status_code >= 500:
                    seen.server_errors += 1
                    seen.note(f"{gateway.name}: {response.status_code} {response.text}")
                    continue
                body = response.json()
                if response.status_code != 200 or body.get("errors"):
                    seen.failed += 1
                    seen.note(f"{gateway.name}: {response.status_code} {response.text}")
                    await asyncio.sleep(0.2)
                    continue
                seen.served += 1
                seen.served_during_fault += self.faulting
                if not fresh_as_said(body):
                    seen.without_freshness += 1
                    seen.note(f"{gateway.name}: no freshness in {response.text}")
                for product in body["data"]["products"]:
                    if product is not None:
                        seen.step(versions, product["id"], product["version"])
                await asyncio.sleep(0.02)

    async def _follow(self, n: int, protocol: str, latest: dict[str, dict[str, Any]]) -> None:
        versions: dict[str, int] = {}
        attempt = 0
        while True:
            gateway = self._gateways[(n + attempt) % len(self._gateways)]
            try:
                await self._subscribe(gateway, protocol, versions, latest)
            except Exception as error:  # Any end of a connection: noted, then reconnect.
                self.seen.note(f"subscriber {n} on {gateway.name}: {type(error).__name__}")
            attempt += 1
            self.seen.reconnects += 1
            await asyncio.sleep(0.5)

    async def _subscribe(
        self,
        gateway: Role,
        protocol: str,
        versions: dict[str, int],
        latest: dict[str, dict[str, Any]],
    ) -> None:
        url = gateway.url.replace("http://", "ws://") + "/graphql"
        legacy = protocol == "graphql-ws"
        async with connect(url, subprotocols=[protocol], open_timeout=5) as socket:  # type: ignore[list-item]
            await socket.send(json.dumps({"type": "connection_init"}))
            payload = {"query": FOLLOW, "variables": {"ids": self._ids}}
            start = {"id": "1", "type": "start" if legacy else "subscribe", "payload": payload}
            await socket.send(json.dumps(start))
            while True:
                # A dead peer is noticed by silence: the legacy protocol's server sends
                # "ka" every few seconds; on the newer one the client pings, as the
                # reference client's keepAlive does, and a pong must come back.
                try:
                    raw = await asyncio.wait_for(
                        socket.recv(), LEGACY_SILENCE_S if legacy else PING_INTERVAL_S
                    )
                except TimeoutError:
                    if legacy:
                        raise
                    await socket.send(json.dumps({"type": "ping"}))
                    raw = await asyncio.wait_for(socket.recv(), PING_INTERVAL_S)
                message = json.loads(raw)
                kind = message["type"]
                if kind == "ping":
                    await socket.send(json.dumps({"type": "pong"}))
                elif kind in ("next", "data"):
                    update = (message["payload"].get("data") or {}).get("stocksChanged")
                    if update is None:
                        self.seen.failed += 1
                        self.seen.note(f"subscription on {gateway.name}: {message['payload']}")
                        return
                    self.seen.updates += 1
                    self.seen.step(versions, update["productId"], update["version"])
                    previous = latest.get(update["productId"])
                    if previous is None or update["version"] >= previous["version"]:
                        latest[update["productId"]] = update
                elif kind in ("pong", "ka", "connection_ack"):
                    continue
                elif kind in ("error", "complete", "connection_error"):
                    self.seen.note(f"subscription on {gateway.name} ended: {message}")
                    return


async def stop_quietly(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait for it."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def visible(gateways: list[Role], ids: list[str], limit_s: float) -> None:
    """Wait until every gateway serves every one of ``ids``."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            found = await asyncio.gather(*(current_stock(gateway, ids) for gateway in gateways))
            if all(len(stocks) == len(ids) for stocks in found):
                return
        except (httpx.HTTPError, KeyError, TypeError, ValueError):
            pass  # Not serving yet.
        await asyncio.sleep(0.2)
    raise RuntimeError("the followed products never became visible")


async def current_stock(gateway: Role, ids: list[str]) -> dict[str, Any]:
    query = "query($ids: [ID!]!) { products(ids: $ids) { id stock { available status } } }"
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            f"{gateway.url}/graphql", json={"query": query, "variables": {"ids": ids}}
        )
    return {p["id"]: p["stock"] for p in response.json()["data"]["products"] if p}
