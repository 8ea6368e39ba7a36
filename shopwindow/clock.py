"""What time it is, for what depends on the wall clock: which scheduled price applies,
how long an answer may be kept, when subscribers must hear of a boundary.

The gateway takes a ``Clock`` rather than reading the time itself, so that tests move
time forward at will (``ManualClock``) instead of sleeping until a boundary.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol

# The longest sleep of ``SystemClock.sleep_until``: the wall clock can be set while a
# task sleeps on the event loop's monotonic clock, and this bounds how late a wake-up
# can then be.
_MAX_SLEEP_S = 60.0


class Clock(Protocol):
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        """The current moment, timezone-aware."""

    async def sleep_until(self, moment: datetime) -> None:
        """Return at ``moment`` or earlier: callers read ``now()`` again."""


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        """The current moment, timezone-aware."""
        return datetime.now(UTC)

    async def sleep_until(self, moment: datetime) -> None:
        """Return at ``moment``, or within a minute (callers read ``now()`` again)."""
        left = (moment - self.now()).total_seconds()
        await asyncio.sleep(min(max(left, 0.0), _MAX_SLEEP_S))


class ManualClock:
    """A clock that moves only when told to (tests).

    Args:
        start: The moment it shows first.
    """

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._moved = asyncio.Condition()

    def now(self) -> datetime:
        """The moment it shows."""
        return self._now

    async def sleep_until(self, moment: datetime) -> None:
        """Return once the clock has been moved to ``moment`` or past it."""
        async with self._moved:
            await self._moved.wait_for(lambda: self._now >= moment)

    async def advance(self, by: timedelta) -> None:
        """Move the clock forward, waking whoever sleeps until a moment it reaches."""
        async with self._moved:
            self._now += by
            self._moved.notify_all()
