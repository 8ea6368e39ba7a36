"""A background loop ends when stopped, even when its step swallowed the cancellation."""

from __future__ import annotations

import asyncio
import sys

import pytest

from shopwindow.tasks import BackgroundLoop


async def test_stop_cancels_a_step_that_waits_forever() -> None:
    steps = 0

    async def step() -> None:
        nonlocal steps
        steps += 1
        await asyncio.Event().wait()

    loop = BackgroundLoop("waits", step)
    loop.start()
    await asyncio.sleep(0)
    assert loop.running
    async with asyncio.timeout(5):
        await loop.stop()
    assert not loop.running and steps == 1


async def test_stop_ends_a_loop_whose_step_swallowed_the_cancellation() -> None:
    # What asyncio.wait_for does on Python 3.11 when the cancellation arrives as its
    # operation completes: the step returns normally, and the loop must not go on.
    started = asyncio.Event()
    steps = 0

    async def step() -> None:
        nonlocal steps
        steps += 1
        started.set()
        if steps > 1:
            await asyncio.Event().wait()  # A loop that goes on waits here for good.
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            pass  # Swallowed, once.

    loop = BackgroundLoop("swallows", step)
    loop.start()
    await started.wait()
    async with asyncio.timeout(5):
        await loop.stop()
    assert steps == 1


async def test_a_failing_step_ends_the_loop_and_stop_says_why() -> None:
    async def step() -> None:
        raise ValueError("the step's own failure")

    loop = BackgroundLoop("fails", step)
    loop.start()
    await asyncio.sleep(0.01)
    assert not loop.running
    with pytest.raises(ValueError, match="own failure"):
        await loop.stop()
    await loop.stop()  # Stopped already: nothing more to say.


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="fixed in Python 3.12 (gh-86296)")
async def test_this_python_s_wait_for_swallows_a_cancellation_as_its_operation_completes() -> None:
    # Why BackgroundLoop checks a flag between steps; pymongo awaits every send so.
    done = asyncio.Event()

    async def operation() -> str:
        await done.wait()
        return "completed"

    async def caller() -> str:
        return await asyncio.wait_for(operation(), timeout=10)

    task = asyncio.create_task(caller())
    await asyncio.sleep(0.01)
    done.set()  # The operation completes in the same turn of the loop...
    task.cancel()  # ...as the caller is cancelled.
    assert await task == "completed"
