"""Delivery to one WebSocket connection: its outbox and its live subscribers.

A connection has one ``Outbox`` and one task sending from it; it keeps only the newest
frame per key (a subscription and product), so a client that cannot keep up gets the
newest value rather than a queue. A ``Subscriber`` is one live subscription on the
connection: its frame prefix, its memberships in the fan-out's groups, and its owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Outbox:
    """Frames waiting for one connection: the newest per key, sent in order by one task.

    The task runs only while frames wait: a phone's connection is idle nearly all the
    time, and a task (with its coroutine and an event to wake it) kept for each idle
    connection cost more memory than the rest of our state for it.

    Args:
        send: Sends one text frame.
    """

    __slots__ = ("_closed", "_pending", "_send", "_task")

    def __init__(self, send: Callable[[str], Awaitable[None]]) -> None:
        self._send = send
        self._pending: dict[object, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def put(self, key: object, text: str) -> None:
        """Send ``text``, replacing what is still waiting under ``key``; nothing once
        closed."""
        if self._closed:
            return
        self._pending[key] = text
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    def drop(self, key: object) -> None:
        """Forget what is waiting under ``key``."""
        self._pending.pop(key, None)

    async def _drain(self) -> None:
        try:
            while self._pending:
                key = next(iter(self._pending))
                try:
                    await self._send(self._pending.pop(key))
                except Exception:
                    log.warning("live frame not sent", exc_info=True)
        finally:
            # No await between the last look at _pending and this: a put() from now on
            # starts the next task.
            self._task = None

    async def close(self) -> None:
        """Stop sending."""
        self._closed = True
        self._pending.clear()
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class Owner(Protocol):
    """Who a subscriber belongs to: its connection."""

    def complete_frame(self, subscriber: Subscriber) -> str:
        """The frame that completes ``subscriber``."""

    def ended(self, subscriber: Subscriber) -> None:
        """The fan-out ended ``subscriber`` (its product went)."""


class Subscriber:
    """One subscription operation on one connection.

    Args:
        owner: Its connection.
        outbox: Its connection's outbox.
        prefix: Its data frame up to the payload, e.g. ``{"type":"next","id":"1","payload":``.
    """

    __slots__ = ("members", "outbox", "owner", "prefix")

    def __init__(self, owner: Owner, outbox: Outbox, prefix: str) -> None:
        self.owner = owner
        self.outbox = outbox
        self.prefix = prefix
        # The fan-out's memberships of this subscriber, one per product.
        self.members: list[Any] = []
