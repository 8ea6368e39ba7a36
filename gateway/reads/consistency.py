"""Read-your-writes: wait until the source records a client caused have been applied.

A client that knows where its event landed (topic, partition, offset) names it in the
``Shopwindow-After`` header (``catalog.products:3:1042,inventory:0:77``) or in the
``after`` argument of ``product``/``products``. The materializer publishes, per source
partition, the offset up to which every record is applied (the progress topic); the
changelog reader follows it into ``AppliedPositions``, and a request waits on that,
woken by each update, never by polling. Past the wait's bound the request is answered
anyway, and ``extensions.consistency`` says which positions were not applied yet.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from shopwindow.gateway.errors import UserInputError

log = logging.getLogger(__name__)

HEADER = "shopwindow-after"
MAX_POSITIONS = 20
_MAX_OFFSET = 2**63 - 1
_MAX_PARTITION = 2**31 - 1
# Kafka topic names: letters, digits, dot, underscore, hyphen; at most 249 characters.
_POSITION = re.compile(r"^([A-Za-z0-9._-]{1,249}):(\d{1,10}):(\d{1,19})$", re.ASCII)


@dataclass(frozen=True, slots=True, order=True)
class SourcePosition:
    """A record of a source topic."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"


def position(topic: str, partition: int, offset: int, sources: Collection[str]) -> SourcePosition:
    """A checked position.

    Raises:
        UserInputError: When the topic is not a source topic or a number is out of range.
    """
    if topic not in sources:
        raise UserInputError(f"{topic!r} is not a source topic of this shopwindow.")
    if not 0 <= partition <= _MAX_PARTITION or not 0 <= offset <= _MAX_OFFSET:
        raise UserInputError("A partition or offset is out of range.")
    return SourcePosition(topic, partition, offset)


def parse_after(header: str, sources: Collection[str]) -> list[SourcePosition]:
    """The positions of a ``Shopwindow-After`` header.

    Raises:
        UserInputError: When an item is not ``topic:partition:offset`` of a source topic,
            or there are more than ``MAX_POSITIONS``.
    """
    items = [item.strip() for item in header.split(",") if item.strip()]
    if len(items) > MAX_POSITIONS:
        raise UserInputError(f"At most {MAX_POSITIONS} positions in Shopwindow-After.")
    positions = []
    for item in items:
        match = _POSITION.match(item)
        if match is None:
            raise UserInputError("Shopwindow-After takes topic:partition:offset, comma-separated.")
        topic, partition, offset = match.groups()
        positions.append(position(topic, int(partition), int(offset), sources))
    return positions


class AppliedPositions:
    """Per source partition, the offset up to which every record is applied."""

    def __init__(self) -> None:
        self._next: dict[tuple[str, int], int] = {}
        self._updated = asyncio.Event()

    def record(self, value: bytes | None) -> None:
        """Take in one progress record; one that does not parse is ignored."""
        try:
            progress: Any = orjson.loads(value or b"")
            key = (str(progress["topic"]), int(progress["partition"]))
            next_offset = int(progress["next_offset"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            log.warning("unreadable progress record", extra={"error": str(error)})
            return
        if next_offset > self._next.get(key, -1):
            self._next[key] = next_offset
            # Wake every waiter, and give later ones a fresh event to wait on.
            self._updated.set()
            self._updated = asyncio.Event()

    def pending(self, positions: Iterable[SourcePosition]) -> list[SourcePosition]:
        """The positions not applied yet."""
        return [p for p in positions if self._next.get((p.topic, p.partition), -1) <= p.offset]

    async def wait(
        self, positions: Collection[SourcePosition], timeout_s: float
    ) -> list[SourcePosition]:
        """Wait until every position is applied, or ``timeout_s`` passes.

        Returns:
            The positions still not applied (empty: all were).
        """
        try:
            async with asyncio.timeout(timeout_s):
                while self.pending(positions):
                    await self._updated.wait()
        except TimeoutError:
            return self.pending(positions)
        return []


@dataclass
class ReadOptions:
    """How one operation reads documents; shared by its context and its loader.

    Attributes:
        fresh: Read MongoDB, not the document cache: after a wait for applied positions,
            MongoDB has every write those records caused, the cache maybe not yet.
        versions: What the loader read: product id -> version, ``None`` where no
            readable document was found (what a cached response depends on).
    """

    fresh: bool = False
    versions: dict[str, int | None] = field(default_factory=dict)


class ConsistencyGate:
    """Waits for applied positions on behalf of one gateway.

    Args:
        applied: What the changelog reader knows is applied.
        sources: The names of the source topics, which are all a position may name.
        wait_s: The longest wait (``SHOPWINDOW_CONSISTENCY_WAIT_MS``).
    """

    def __init__(self, applied: AppliedPositions, sources: Collection[str], wait_s: float) -> None:
        self.applied = applied
        self.sources = frozenset(sources)
        self._wait_s = wait_s

    async def wait(self, positions: Collection[SourcePosition]) -> ConsistencyReport:
        """Wait, within the bound, until every position is applied."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        pending = await self.applied.wait(positions, self._wait_s)
        waited_ms = round((loop.time() - started) * 1000)
        return ConsistencyReport(sorted(positions), pending, waited_ms)


@dataclass
class ConsistencyReport:
    """What a request waited for, reported in ``extensions.consistency``."""

    requested: list[SourcePosition]
    pending: list[SourcePosition]
    waited_ms: int

    def as_extension(self) -> dict[str, Any]:
        """The ``consistency`` extension."""
        return {
            "met": not self.pending,
            "waitedMs": self.waited_ms,
            "pending": [str(p) for p in self.pending],
        }
