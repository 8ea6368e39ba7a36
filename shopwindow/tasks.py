"""Background loops that end when stopped, whatever their step was awaiting.

A loop that relies on cancellation alone to stop can run on: on Python 3.11,
``asyncio.wait_for`` swallows a cancellation that arrives as the operation it waits
for completes (cpython gh-86296, fixed in 3.12 by rewriting it over
``asyncio.timeout``). pymongo sends every command through ``wait_for``, so a loop
cancelled during a MongoDB call could carry on with its next step, and whoever awaited
it after cancelling waited forever (a gateway's shutdown hung so about once per run of
the test suite). A ``BackgroundLoop`` therefore both cancels its step and checks,
between steps, whether it was stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


class BackgroundLoop:
    """``step()`` run over and over in the background, from ``start`` until ``stop``.

    An exception from ``step`` ends the loop (and ``stop()`` raises it): a step
    handles the failures it can wait out itself.

    Args:
        name: The task's name, as shown in task dumps.
        step: One round of the loop's work.
    """

    def __init__(self, name: str, step: Callable[[], Awaitable[object]]) -> None:
        self._name = name
        self._step = step
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def running(self) -> bool:
        """Whether the loop was started and has not ended."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Run the step again and again until ``stop()``."""
        self._stopped = False
        self._task = asyncio.create_task(self._loop(), name=self._name)

    async def _loop(self) -> None:
        while not self._stopped:
            await self._step()

    async def stop(self) -> None:
        """Cancel the step in progress and wait until the loop has ended.

        If the step swallowed the cancellation, the loop ends when that step returns.
        """
        self._stopped = True
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
