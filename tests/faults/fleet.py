"""A thousand subscriptions held by the reference graphql-ws client, and what they saw.

The fleet is ``tests/conformance/graphql_ws_fleet.mjs``: clients of npm's
``graphql-ws`` spread over both gateways, each holding several ``stockChanged``
subscriptions and reconnecting to the other gateway with the library's own retry when
a connection is lost. When the fault begins, the harness marks every followed
product's stored version; a value that comes on a connection opened after that mark
must be at least that version (a reconnected client's first value is current), no
subscription may see a version go back, and each ends on the current stock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.faults.deployment import Role

SCRIPT = Path(__file__).resolve().parent.parent / "conformance" / "graphql_ws_fleet.mjs"
SAMPLES = 6
LINE_LIMIT_BYTES = 1 << 20


@dataclass
class Followed:
    """One subscription: its product, its newest value, and its connections."""

    product_id: str
    latest: dict[str, Any] | None = None
    generation: int = 0  # The connection count of its client when its latest value came.
    floor: int | None = None  # The stored version when the fault began.
    marked_generation: int = 0  # Its client's connection count then.


@dataclass
class FleetSeen:
    """What the whole fleet saw."""

    values: int = 0
    largest_step_back: int = 0
    stale_first_values: int = 0
    ended: int = 0
    samples: list[str] = field(default_factory=list)

    def note(self, what: str) -> None:
        if len(self.samples) < SAMPLES:
            self.samples.append(what[:240])


class Fleet:
    """``clients`` reference clients with ``per_client`` subscriptions each.

    Args:
        gateways: The two gateways; client n starts on the one of n's parity.
        product_ids: The products followed, round-robin over the subscriptions.
        clients: How many clients, each with one WebSocket.
        per_client: Subscriptions per client.
    """

    def __init__(
        self, gateways: Sequence[Role], product_ids: Sequence[str], clients: int, per_client: int
    ) -> None:
        self._urls = [g.url.replace("http://", "ws://") + "/graphql" for g in gateways]
        self._ids = list(product_ids)
        self._clients, self._per_client = clients, per_client
        self.followed = [
            Followed(self._ids[s % len(self._ids)]) for s in range(clients * per_client)
        ]
        self.connections = [0] * clients
        self.seen = FleetSeen()
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def size(self) -> int:
        """How many subscriptions the fleet holds."""
        return len(self.followed)

    async def __aenter__(self) -> Fleet:
        self._process = await asyncio.create_subprocess_exec(
            "node",
            str(SCRIPT),
            *self._urls,
            json.dumps(self._ids),
            str(self._clients),
            str(self._per_client),
            stdout=asyncio.subprocess.PIPE,
            limit=LINE_LIMIT_BYTES,
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    def mark(self, stored_versions: dict[str, int]) -> None:
        """The fault begins now: a connection opened after this must start current."""
        for followed in self.followed:
            followed.floor = stored_versions.get(followed.product_id)
        for followed, client in zip(self.followed, self._client_of_each(), strict=True):
            followed.marked_generation = self.connections[client]

    def reconnected(self) -> int:
        """Subscriptions that got a value on a connection opened after the mark."""
        return sum(1 for f in self.followed if f.generation > f.marked_generation)

    def stale(self, current: dict[str, dict[str, Any]]) -> int:
        """Subscriptions whose newest value is not the product's current stock."""
        wrong = [
            f
            for f in self.followed
            if f.latest is None
            or {"available": f.latest["a"], "status": f.latest["st"]} != current.get(f.product_id)
        ]
        for f in wrong[:2]:
            self.seen.note(
                f"fleet ends on {f.product_id} {f.latest}, current {current.get(f.product_id)}"
            )
        return len(wrong)

    def _client_of_each(self) -> list[int]:
        return [s // self._per_client for s in range(len(self.followed))]

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        async for raw in self._process.stdout:
            line = json.loads(raw)
            if "s" not in line:
                self.connections[line["c"]] = line["g"]
            elif "end" in line:
                self.seen.ended += 1
                self.seen.note(f"fleet subscription {line['s']} ended: {line['end']}")
            else:
                self._value(self.followed[line["s"]], line)

    def _value(self, followed: Followed, line: dict[str, Any]) -> None:
        self.seen.values += 1
        version = int(line["v"])
        previous = followed.latest
        if previous is not None and version < previous["v"]:
            self.seen.largest_step_back = max(self.seen.largest_step_back, previous["v"] - version)
        first_on_connection = line["g"] > followed.generation
        if (
            first_on_connection
            and line["g"] > followed.marked_generation
            and followed.floor is not None
            and version < followed.floor
        ):
            self.seen.stale_first_values += 1
            self.seen.note(
                f"fleet subscription {line['s']}: first value on a new connection is version"
                f" {version} of {followed.product_id}, {followed.floor} was stored before"
            )
        followed.generation = max(followed.generation, int(line["g"]))
        if previous is None or version >= previous["v"]:
            followed.latest = line
