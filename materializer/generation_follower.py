"""A live materializer's side of a switch: say it runs, hold still when asked, and move
to the generation the serving pointer names.

Between batches the consume loop asks ``hold``: during a switch the member has
committed everything it wrote, says so, and waits. Before each commit it asks
``confirms``: a batch written to a generation that stopped being served meanwhile is
not committed but read again, into the served one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from pymongo.errors import PyMongoError

from shopwindow.generations import Pointer, Switch, partition_key
from shopwindow.materializer.batch_writer import BatchWriter
from shopwindow.materializer.errors import TransientError
from shopwindow.materializer.metrics import MaterializerMetrics
from shopwindow.serving import ServingPointers
from shopwindow.tasks import BackgroundLoop

log = logging.getLogger(__name__)

T = TypeVar("T")

HEARTBEAT_INTERVAL_S = 1.0
# A member silent this long died without leaving: taken off when another member starts.
FORGET_AFTER_S = 600.0


class GenerationFollower:
    """Keeps one live member on the served generation.

    Args:
        pointers: The serving pointer.
        member: This member's id, unique per process.
        writer: The writer whose collections follow the pointer.
        poll_interval_s: How often the pointer is read while waiting, and in the
            background (also the heartbeat).
        lease_s: The longest this member holds still for a switch that does not flip.
        clock: Seconds since the epoch, for the heartbeat.
        metrics: Where to report how long the member holds still, and the lease.
    """

    def __init__(
        self,
        pointers: ServingPointers,
        member: str,
        writer: BatchWriter,
        *,
        poll_interval_s: float = 0.2,
        lease_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        metrics: MaterializerMetrics | None = None,
    ) -> None:
        self._pointers = pointers
        self._metrics = metrics
        if metrics is not None:
            metrics.switch_lease_seconds.set(lease_s)
        self._member = member
        self._writer = writer
        self._poll_interval_s = poll_interval_s
        self._lease_s = lease_s
        self._clock = clock
        self._pointer = Pointer()
        self._beaten_at = 0.0
        self._beating = BackgroundLoop("generation heartbeat", self._keep_beating)

    async def start(self) -> None:
        """Read the pointer, say this member runs, and keep saying so.

        Raises:
            TransientError: When MongoDB cannot be reached.
        """
        self._pointer = await self._fresh()
        await self._beat()
        await self._call(self._pointers.forget_members_before(self._clock() - FORGET_AFTER_S))
        self._writer.use_generation(self._pointer.generation)
        self._beating.start()

    async def stop(self) -> None:
        """Stop saying this member runs, and take it off the pointer."""
        await self._beating.stop()
        with contextlib.suppress(PyMongoError):
            await self._pointers.leave(self._member)

    async def hold(self, consumer: AIOKafkaConsumer) -> None:
        """Between batches: wait out a switch, then move to the served generation.

        Raises:
            TransientError: When MongoDB cannot be reached.
        """
        pointer = self._pointer
        if pointer.waiting:
            pointer = await self._wait_out(pointer)
        if pointer.generation != self._writer.generation:
            await self._move(consumer, pointer)

    async def confirms(self, generation: int) -> bool:
        """Whether ``generation`` is still served: may a batch written to it commit?

        Raises:
            TransientError: When MongoDB cannot be reached.
        """
        self._pointer = await self._fresh()
        return self._pointer.generation == generation

    async def _wait_out(self, pointer: Pointer) -> Pointer:
        switch = pointer.switch
        assert switch is not None
        log.info("holding still for a switch", extra={"target": switch.target})
        await self._call(self._pointers.pause(self._member, switch.token))
        loop = asyncio.get_running_loop()
        held_since = loop.time()
        deadline = held_since + self._lease_s
        beat = switch.beat
        try:
            while (
                pointer.waiting
                and pointer.switch is not None
                and _same(pointer.switch, switch.token)
            ):
                if pointer.switch.beat != beat:
                    beat, deadline = pointer.switch.beat, loop.time() + self._lease_s
                if loop.time() > deadline:
                    await self._give_up(pointer.switch)
                await asyncio.sleep(self._poll_interval_s)
                if self._metrics is not None:
                    self._metrics.switch_holding_seconds.set(loop.time() - held_since)
                pointer = self._pointer = await self._fresh()
        finally:
            if self._metrics is not None:
                self._metrics.switch_holding_seconds.set(0)
        log.info("switch over", extra={"generation": pointer.generation})
        return pointer

    async def _give_up(self, switch: Switch) -> None:
        # The switching process went away, or is stuck. Before the flip, serving goes
        # on as it was: exactly one of this cancel and the flip wins. After it, only
        # the announcement of the new documents was left; the members go on without it.
        if switch.state == "pausing":
            if await self._call(self._pointers.cancel(switch.token)):
                log.warning("a switch did not flip within its lease; cancelled it")
        elif await self._call(self._pointers.end_switch(switch.token)):
            log.warning(
                "a switch flipped but did not finish announcing within its lease; "
                "products it did not announce are announced at their next change"
            )

    async def _move(self, consumer: AIOKafkaConsumer, pointer: Pointer) -> None:
        self._writer.use_generation(pointer.generation)
        # A batch this member wrote to the old generation after the rebuild drained
        # it is read again: the fold's watermarks skip what the new one has.
        for tp in consumer.assignment():
            drained = pointer.drained.get(partition_key(tp.topic, tp.partition))
            try:
                if drained is not None and await consumer.position(tp) > drained:
                    consumer.seek(tp, drained)
            except KafkaError as error:
                raise TransientError("kafka", f"position: {error}") from error
        log.info("now writing generation", extra={"generation": pointer.generation})

    async def _keep_beating(self) -> None:
        # The pointer is read every poll; the heartbeat, a write to the one document
        # every member shares, goes out once a second.
        await asyncio.sleep(self._poll_interval_s)
        try:
            self._pointer = await self._pointers.read()
            if time.monotonic() - self._beaten_at >= HEARTBEAT_INTERVAL_S:
                await self._beat()
        except (PyMongoError, ValueError) as error:
            # The consume loop meets the same outage and reports it; the pointer
            # read before stays in force.
            log.debug("pointer not read", extra={"error": str(error)})

    async def _beat(self) -> None:
        await self._call(self._pointers.heartbeat(self._member, self._clock()))
        self._beaten_at = time.monotonic()

    async def _fresh(self) -> Pointer:
        return await self._call(self._pointers.read())

    @staticmethod
    async def _call(step: Awaitable[T]) -> T:
        try:
            return await step
        except (PyMongoError, ValueError) as error:
            raise TransientError("mongodb", f"serving pointer: {error}") from error


def _same(switch: Switch | None, token: str) -> bool:
    return switch is not None and switch.token == token
