"""``shopwindow rebuild``: build a new generation beside the served one, then switch.

1. **Build.** A materializer of its own (its own consumer group, nothing published)
   folds every source topic from the beginning into the next generation's collections,
   while the gateway serves the current one and the live materializer keeps it
   current. Progress shows per topic; the build is *caught up* once what is left would
   take under a second at the measured rate.
2. **Switch** (``Switcher``): the live members pause after their batch; the build
   drains to exactly where they stopped; any version the new generation has not yet
   passed is raised above the served one; the pointer flips; every document of the
   new generation is announced on the changelog (caches, search and subscribers
   follow); the members go on, on the new generation.

Interrupted while building, ``shopwindow rebuild`` resumes (the build's consumer group
remembers where it was) and ``--abandon`` drops what was built. Interrupted while
switching, the live members cancel the switch once its lease runs out; nothing served
changes unless the flip happened, and after it the switch only announces. The
generation served before is kept for ``--rollback`` (caught up the same way, from where
it was left) until ``--finish`` drops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
)

from shopwindow.document import META
from shopwindow.generations import (
    BuildTarget,
    Pointer,
    build_group,
    keyed_collection,
    partition_key,
    products_collection,
)
from shopwindow.kafka_start import start_kafka_client
from shopwindow.materializer.publishing import changelog_record, new_producer, send_all
from shopwindow.materializer.service import Materializer
from shopwindow.materializer.sources import SourceRegistry
from shopwindow.mongo import MongoDocument, mongo_client
from shopwindow.serving import ServingPointers
from shopwindow.settings import MaterializerSettings

log = logging.getLogger(__name__)

CAUGHT_UP_S = 1.0
RATE_WINDOW_S = 3.0
_CHUNK = 1000


class RebuildError(Exception):
    """The pointer does not allow what was asked; the message says why and what to do."""


@dataclass
class SwitchReport:
    """What a switch did.

    Attributes:
        seconds: From asking the members to pause to letting them go on.
        raised: Documents whose version was raised above the served generation's.
        announced: Changelog records sent.
        members: Live members that paused.
        phases: Seconds spent in each step: pause, drain, raise, flip, announce.
    """

    seconds: float = 0.0
    raised: int = 0
    announced: int = 0
    members: int = 0
    phases: dict[str, float] = field(default_factory=dict)

    def lap(self, phase: str, since: float) -> float:
        """Record ``phase`` as ending now, begun at ``since`` (``time.monotonic``)."""
        now = time.monotonic()
        self.phases[phase] = now - since
        return now


@dataclass
class BuildProgress:
    """Records done and left per topic, and the rate."""

    done: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)
    rate_per_s: float = 0.0

    @property
    def left(self) -> int:
        """Records not yet folded."""
        return sum(self.total.values()) - sum(self.done.values())

    @property
    def caught_up(self) -> bool:
        """Whether what is left takes under a second at the measured rate."""
        return self.left <= 0 or (self.rate_per_s > 0 and self.left / self.rate_per_s < CAUGHT_UP_S)


class Rebuild:
    """The ``shopwindow rebuild`` command's steps.

    Args:
        settings: The materializer's settings (the same as the live one's).
        registry: The installed sources.
        console: Where progress goes; ``None`` shows none (logs only).
        member_timeout_s: A live member not heard from for this long is not waited for.
    """

    def __init__(
        self,
        settings: MaterializerSettings,
        registry: SourceRegistry,
        console: Console | None = None,
        member_timeout_s: float = 5.0,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self._console = console
        self._member_timeout_s = member_timeout_s
        self._client = mongo_client(
            settings.mongodb_uri.get_secret_value(),
            "shopwindow-rebuild",
            serverSelectionTimeoutMS=5000,
        )
        self._database: AsyncDatabase[MongoDocument] = self._client[settings.mongodb_database]
        self.pointers = ServingPointers(self._database)

    async def __aenter__(self) -> Rebuild:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.close()

    async def run(self) -> SwitchReport:
        """Build (or resume building) the next generation, then switch to it.

        Raises:
            RebuildError: When a kept previous generation or a switch stands in the way.
        """
        pointer = await self._settled()
        if pointer.building is None:
            if pointer.previous is not None:
                raise RebuildError(
                    f"generation {pointer.previous} is kept for a rollback: run "
                    "`shopwindow rebuild --finish` (or `--rollback`) first"
                )
            generation = pointer.generation + 1
            await self._drop(generation)  # Left by an attempt that died before recording.
            group = build_group(self.settings.materializer_group_id, generation, _attempt())
            if not await self.pointers.begin_building(generation, pointer.generation, group):
                raise RebuildError("the serving pointer changed meanwhile; run the command again")
            log.info("building", extra={"generation": generation})
        else:
            log.info("resuming", extra={"generation": pointer.building})
        pointer = await self.pointers.read()
        assert pointer.building is not None
        return await self._build_and_switch(pointer.build_target(pointer.building))

    async def rollback(self) -> SwitchReport:
        """Catch the previous generation up from where it was left, then switch back.

        Raises:
            RebuildError: When no previous generation is kept.
        """
        pointer = await self._settled()
        if pointer.building is None:
            if pointer.previous is None:
                raise RebuildError("no previous generation is kept to roll back to")
            if not await self.pointers.begin_rollback(pointer.generation, pointer.previous):
                raise RebuildError("the serving pointer changed meanwhile; run the command again")
            pointer = await self.pointers.read()
        assert pointer.building is not None
        return await self._build_and_switch(pointer.build_target(pointer.building))

    async def finish(self) -> int:
        """Drop the previous generation; returns its number.

        Raises:
            RebuildError: When none is kept, or a build is under way.
        """
        pointer = await self._settled()
        if pointer.previous is None:
            raise RebuildError("no previous generation is kept")
        if pointer.building is not None:
            raise RebuildError(f"generation {pointer.building} is being built: --abandon it first")
        previous = pointer.previous
        if not await self.pointers.finish(pointer.generation):
            raise RebuildError("the serving pointer changed meanwhile; run the command again")
        await self._drop(previous)
        return previous

    async def abandon(self) -> int:
        """Stop building: drop what was built (unless it is the kept previous
        generation, which a rollback was catching up); returns its number.

        Raises:
            RebuildError: When nothing is being built.
        """
        pointer = await self._settled()
        if pointer.building is None:
            raise RebuildError("no generation is being built")
        building = pointer.building
        if not await self.pointers.abandon(building):
            raise RebuildError("the serving pointer changed meanwhile; run the command again")
        if building != pointer.previous:
            await self._drop(building)
        return building

    async def _drop(self, generation: int) -> None:
        await drop_generation(self._database, self.registry, generation)

    async def _settled(self) -> Pointer:
        # A switch that a member cancelled, or whose process died, is cleared here; one
        # still running belongs to another rebuild.
        pointer = await self.pointers.read()
        if pointer.switch is not None:
            if pointer.switch.state != "cancelled":
                raise RebuildError(
                    "another rebuild is switching now; wait, or for its lease to run out"
                )
            await self.pointers.end_switch(pointer.switch.token)
            pointer = await self.pointers.read()
        return pointer

    async def _build_and_switch(self, target: BuildTarget) -> SwitchReport:
        async with Materializer(
            self.settings, serve_http=False, registry=self.registry, build=target
        ) as builder:
            assert builder.loop is not None and builder.consumer is not None
            task = asyncio.create_task(builder.loop.run_forever(), name="rebuild")
            try:
                await self._until_caught_up(builder.consumer, task)
                report = await Switcher(
                    self._database, self.pointers, self.settings, self.registry
                ).switch(target, builder.consumer, task, self._member_timeout_s)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if builder.loop.unpublished_dead_letters:
                log.warning(
                    "records the new fold refused (not dead-lettered again)",
                    extra={"by_topic": dict(builder.loop.unpublished_dead_letters)},
                )
        return report

    async def _until_caught_up(self, consumer: AIOKafkaConsumer, task: asyncio.Task[None]) -> None:
        progress = Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>9} rec/s"),
            TextColumn("ETA {task.fields[eta]}"),
            console=self._console,
            disable=self._console is None,
        )
        bars: dict[str, TaskID] = {}
        # The rate over the last few seconds: one half-second sample is too noisy to
        # call the build caught up on.
        samples: deque[tuple[float, dict[str, int]]] = deque()
        with progress:
            while True:
                if task.done():
                    task.result()  # The build failed: say why.
                state = await measure(consumer, self.registry.topic_names(self.settings.topics))
                now = time.monotonic()
                samples.append((now, dict(state.done)))
                while now - samples[0][0] > RATE_WINDOW_S:
                    samples.popleft()
                rates = dict.fromkeys(state.done, 0.0)
                first_s, first = samples[0]
                if now > first_s:
                    for topic, done in state.done.items():
                        rates[topic] = max(done - first.get(topic, done), 0) / (now - first_s)
                    state.rate_per_s = sum(rates.values())
                for topic, total in state.total.items():
                    if topic not in bars:
                        bars[topic] = progress.add_task(topic, total=total, rate="-", eta="-")
                    progress.update(
                        bars[topic],
                        completed=state.done[topic],
                        total=total,
                        rate=f"{rates[topic]:,.0f}",
                        eta=eta_text(total - state.done[topic], rates[topic]),
                    )
                if state.total and state.caught_up:
                    break
                await asyncio.sleep(0.5)
        if self._console is not None:
            self._console.print(f"caught up: {state.left} records left")
        log.info("caught up", extra={"left": state.left})


def eta_text(left: int, rate_per_s: float) -> str:
    """How long ``left`` records take at ``rate_per_s``, as ``h:mm:ss``; ``-`` while no
    rate is measured."""
    if left <= 0:
        return "0:00:00"
    if rate_per_s <= 0:
        return "-"
    seconds = min(round(left / rate_per_s), 99 * 3600 + 3599)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


async def measure(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> BuildProgress:
    """Per topic, the records the build's group has folded, and all there are."""
    progress = BuildProgress()
    partitions = [
        TopicPartition(topic, partition)
        for topic in topics
        for partition in sorted(consumer.partitions_for_topic(topic) or ())
    ]
    if not partitions:
        return progress
    beginning = await consumer.beginning_offsets(partitions)
    end = await consumer.end_offsets(partitions)
    for tp in partitions:
        committed = await consumer.committed(tp)
        position = beginning[tp] if committed is None else max(committed, beginning[tp])
        progress.done[tp.topic] = progress.done.get(tp.topic, 0) + position - beginning[tp]
        progress.total[tp.topic] = progress.total.get(tp.topic, 0) + end[tp] - beginning[tp]
    return progress


class Switcher:
    """The switch, step by step (see the module docs).

    Args:
        database: The shopwindow database.
        pointers: Its serving pointer.
        settings: The materializer's settings.
        registry: The installed sources.
        clock: Seconds since the epoch (members' heartbeats are compared with it).
    """

    def __init__(
        self,
        database: AsyncDatabase[MongoDocument],
        pointers: ServingPointers,
        settings: MaterializerSettings,
        registry: SourceRegistry,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._database = database
        self._pointers = pointers
        self._settings = settings
        self._registry = registry
        self._clock = clock

    async def switch(
        self,
        target: BuildTarget,
        consumer: AIOKafkaConsumer,
        build: asyncio.Task[None],
        member_timeout_s: float,
    ) -> SwitchReport:
        """Switch to ``target``, built by ``build`` through ``consumer``.

        Raises:
            RebuildError: When the members did not pause, or one cancelled the switch.
        """
        report = SwitchReport()
        started = time.monotonic()
        # The whole switch must fit in the members' lease; pausing gets half of it.
        lease_s = self._settings.switch_lease_s
        pointer = await self._pointers.read()
        served = pointer.generation
        token = _attempt()
        if not await self._pointers.begin_switch(token, target.generation, served):
            raise RebuildError("the serving pointer changed meanwhile; run the command again")
        try:
            report.members = await self._until_paused(token, member_timeout_s, lease_s / 2)
            lap = report.lap("pause", started)
            drained = await self._drain(consumer, build, started + lease_s * 0.75)
            lap = report.lap("drain", lap)
        except BaseException:
            await self._pointers.end_switch(token)
            raise
        build.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await build
        report.raised = await self._raise_versions(served, target.generation)
        lap = report.lap("raise", lap)
        served_group = build_group(self._settings.materializer_group_id, served, _attempt())
        keys = {partition_key(tp.topic, tp.partition): offset for tp, offset in drained.items()}
        if not await self._pointers.flip(token, served, keys, served_group):
            await self._pointers.end_switch(token)
            raise RebuildError("a live member cancelled the switch (its lease ran out)")
        log.info("switched", extra={"generation": target.generation, "before": served})
        lap = report.lap("flip", lap)
        try:
            await self._commit(served_group, drained)
            report.announced = await self._announce(served, target.generation, token)
            report.lap("announce", lap)
        finally:
            await self._pointers.end_switch(token)
        report.seconds = time.monotonic() - started
        return report

    async def _until_paused(self, token: str, member_timeout_s: float, within_s: float) -> int:
        deadline = time.monotonic() + within_s
        while True:
            pointer = await self._pointers.read()
            if pointer.switch is None or pointer.switch.token != token:
                raise RebuildError("the switch was cancelled")
            members = pointer.live_members(self._clock(), member_timeout_s)
            if members <= pointer.switch.paused:
                return len(members)
            if time.monotonic() > deadline:
                raise RebuildError(
                    f"live members did not pause: {sorted(members - pointer.switch.paused)}"
                )
            await asyncio.sleep(0.05)

    async def _drain(
        self, consumer: AIOKafkaConsumer, build: asyncio.Task[None], deadline: float
    ) -> dict[TopicPartition, int]:
        # Where the paused members stopped: the build must have folded everything before.
        topics = self._registry.topic_names(self._settings.topics)
        live = self._settings.kafka.consumer(
            client_id="shopwindow-rebuild",
            group_id=self._settings.materializer_group_id,
            enable_auto_commit=False,
        )
        await start_kafka_client(live)
        try:
            partitions = [
                TopicPartition(topic, partition)
                for topic in topics
                for partition in sorted(live.partitions_for_topic(topic) or ())
            ]
            beginning = await live.beginning_offsets(partitions)
            stopped = {tp: (await live.committed(tp)) or beginning[tp] for tp in partitions}
        finally:
            await live.stop()
        while True:
            if build.done():
                build.result()
            # A partition the build has nothing to commit for stands at its beginning.
            behind = [
                tp
                for tp in partitions
                if ((await consumer.committed(tp)) or beginning[tp]) < stopped[tp]
            ]
            if not behind:
                return stopped
            if time.monotonic() > deadline:
                raise RebuildError(f"the build did not catch up in time: {behind[:3]}")
            await asyncio.sleep(0.05)

    async def _raise_versions(self, served: int, target: int) -> int:
        # Compared here rather than with one conditional update per document: updates
        # cost far more than reads, and only the products changed since the build last
        # wrote them need one.
        old = self._database[products_collection(served)]
        new = self._database[products_collection(target)]
        built = {
            doc["_id"]: int(doc.get("version", 0)) async for doc in new.find({}, {"version": 1})
        }
        writes = []
        async for doc in old.find({}, {"version": 1}):
            version = int(doc.get("version", 0))
            if doc["_id"] in built and built[doc["_id"]] <= version:
                writes.append(
                    UpdateOne(
                        {"_id": doc["_id"], "version": {"$lte": version}},
                        {"$set": {"version": version + 1}},
                    )
                )
        raised = 0
        for start in range(0, len(writes), _CHUNK):
            result = await new.bulk_write(writes[start : start + _CHUNK], ordered=False)
            raised += result.modified_count
        return raised

    async def _commit(self, group: str, drained: Mapping[TopicPartition, int]) -> None:
        # The generation served until now stopped exactly here: a rollback catches it up
        # from these offsets.
        tracker = self._settings.kafka.consumer(
            client_id="shopwindow-rebuild",
            group_id=group,
            enable_auto_commit=False,
        )
        await start_kafka_client(tracker)
        try:
            tracker.assign(list(drained))
            await tracker.commit(dict(drained))
        finally:
            await tracker.stop()

    async def _announce(self, served: int, target: int, token: str) -> int:
        # Every document of the new generation, at a version above the old one's; the
        # products the new fold dropped, as tombstones. The members still hold still,
        # so no record of theirs can land before an older one of these.
        topic = self._settings.topics.changelog
        sections = self._registry.sections
        new = self._database[products_collection(target)]
        old = self._database[products_collection(served)]
        producer = new_producer(self._settings.kafka, "shopwindow-rebuild")
        await start_kafka_client(producer)
        announced = 0
        try:
            records = []
            kept: set[str] = set()
            # The bookkeeping (_meta) is most of a document and never announced.
            async for doc in new.find({}, {META: 0}):
                kept.add(doc["_id"])
                records.append(changelog_record(topic, doc["_id"], doc, sections))
                if len(records) >= _CHUNK:
                    announced += len(records) - len(await send_all(producer, records))
                    records = []
                    await self._pointers.renew(token)  # Still at it: the lease starts again.
            async for doc in old.find({}, {"version": 1}):
                if doc["_id"] not in kept:
                    gone = {"visible": False, "version": int(doc.get("version", 0)) + 1}
                    records.append(changelog_record(topic, doc["_id"], gone, sections))
            announced += len(records) - len(await send_all(producer, records))
        finally:
            await producer.stop()
        return announced


def _attempt() -> str:
    return uuid.uuid4().hex[:8]


async def drop_generation(
    database: AsyncDatabase[MongoDocument], registry: SourceRegistry, generation: int
) -> None:
    """Drop ``generation``'s collections: its products and its keyed states."""
    await database.drop_collection(products_collection(generation))
    for source in registry.sources:
        if source.keyed_state is not None:
            await database.drop_collection(
                keyed_collection(source.keyed_state.collection, generation)
            )
