"""One connection's outbox: the newest frame per key, in order, a task only while
frames wait, nothing after close."""

from __future__ import annotations

import asyncio

import pytest

from shopwindow.gateway.live.outbox import Outbox


class Wire:
    """A connection whose sends wait until released, recording what went out."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_on: set[str] = set()
        self.progress = asyncio.Condition()

    async def send(self, text: str) -> None:
        await self.gate.wait()
        if text in self.fail_on:
            raise ConnectionError("gone")
        async with self.progress:
            self.sent.append(text)
            self.progress.notify_all()


async def drained(wire: Wire, count: int) -> None:
    async with asyncio.timeout(5), wire.progress:
        await wire.progress.wait_for(lambda: len(wire.sent) >= count)


async def test_the_newest_frame_per_key_goes_out_in_order() -> None:
    wire = Wire()
    outbox = Outbox(wire.send)
    wire.gate.clear()  # The client is slow: frames wait.
    outbox.put("a", "a1")
    await asyncio.sleep(0)  # "a1" is being sent.
    outbox.put("b", "b1")
    outbox.put("a", "a2")
    outbox.put("b", "b2")  # Replaces b1, keeps b's place.
    wire.gate.set()
    await drained(wire, 3)
    assert wire.sent == ["a1", "b2", "a2"]
    await outbox.close()


async def test_no_task_is_left_once_the_frames_are_out() -> None:
    wire = Wire()
    outbox = Outbox(wire.send)
    before = len(asyncio.all_tasks())
    for n in range(3):
        outbox.put(n, f"frame {n}")
        await drained(wire, n + 1)
        for _ in range(3):
            await asyncio.sleep(0)
        assert len(asyncio.all_tasks()) == before  # Idle: nothing runs for it.
    assert wire.sent == ["frame 0", "frame 1", "frame 2"]
    await outbox.close()


async def test_a_failed_send_is_logged_and_the_next_frame_still_goes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wire = Wire()
    wire.fail_on = {"bad"}
    outbox = Outbox(wire.send)
    outbox.put("a", "bad")
    outbox.put("b", "good")
    await drained(wire, 1)
    assert wire.sent == ["good"]
    assert "live frame not sent" in caplog.text
    await outbox.close()


async def test_nothing_goes_out_after_close() -> None:
    wire = Wire()
    outbox = Outbox(wire.send)
    wire.gate.clear()
    outbox.put("a", "waiting")
    await asyncio.sleep(0)
    await outbox.close()
    outbox.put("b", "late")
    wire.gate.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert wire.sent == []
