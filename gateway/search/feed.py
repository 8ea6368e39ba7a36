"""Keeps a replica's search index current: the compacted changelog, from its beginning.

At start the feed reads every partition from offset 0 (the latest document of every
product, compaction permitting) and notes the end offsets it has to reach; the replica
is ready once the index holds everything up to them. It then follows the changelog and
makes changes searchable every ``commit_interval_ms``. A hidden product's document, a
tombstone and an unreadable record all take the product out of the index.

A product with scheduled prices is indexed again when one begins or ends, from its
newest record, kept until its last boundary passes: the rows hold the prices in
effect when made.

Writes run in one thread of their own: tantivy calls hold the CPU for a while, and the
event loop must keep serving meanwhile. After a broker failure the feed reconnects and
resumes from the offsets it has indexed.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shopwindow.clock import Clock, SystemClock
from shopwindow.gateway.metrics import GatewayMetrics
from shopwindow.gateway.reads.changelog_reading import (
    added_partitions,
    partitions_of,
    reading_loop,
)
from shopwindow.gateway.search.conversion import Changes, Record, changes_of
from shopwindow.gateway.search.engine import SearchIndex
from shopwindow.gateway.search.rows import NO_LOCALES, Locales
from shopwindow.kafka_clients import KafkaConnection

log = logging.getLogger(__name__)

PROGRESS_LOG_INTERVAL_S = 5.0
PARTITION_REFRESH_S = 10.0


@dataclass
class _Build:
    """Progress of the initial build."""

    targets: dict[TopicPartition, int]
    started: float = field(default_factory=time.monotonic)
    records: int = 0
    logged_at: float = field(default_factory=time.monotonic)


class SearchFeed:
    """Feeds a ``SearchIndex`` from the changelog.

    Args:
        kafka: The Kafka cluster.
        topic: The changelog topic.
        index: The index to keep current.
        commit_interval_ms: How often changes become searchable.
        metrics: Reports documents, delay and readiness.
        locales: The other markets and the languages rows are made for.
        clock: Whose moment decides the prices rows are made at; a product whose
            scheduled price begins or ends is indexed again then.
    """

    def __init__(
        self,
        kafka: KafkaConnection,
        topic: str,
        index: SearchIndex,
        commit_interval_ms: int,
        metrics: GatewayMetrics,
        locales: Locales = NO_LOCALES,
        clock: Clock | None = None,
    ) -> None:
        self._kafka = kafka
        self._locales = locales
        self._clock = clock or SystemClock()
        # The products whose rows change at a price boundary, with their newest record:
        # (moment, record) by product, and a heap of (moment, product) whose entries
        # for older moments are stale.
        self._rescheduled: dict[str, tuple[datetime, Record]] = {}
        self._boundaries: list[tuple[datetime, str]] = []
        self._topic = topic
        self._index = index
        self._commit_interval_s = commit_interval_ms / 1000
        self._metrics = metrics
        self._next: dict[TopicPartition, int] = {}
        self._build: _Build | None = None
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="search-writer")
        self._reader = reading_loop("search feed", self._new_consumer, self._read)
        self.ready = False
        metrics.search_documents.set_function(index.count)

    async def start(self) -> None:
        """Start building the index, then following the changelog, in the background."""
        self._reader.start()

    async def stop(self) -> None:
        """Stop reading and release the index."""
        await self._reader.stop()
        await asyncio.get_running_loop().run_in_executor(self._writer, self._index.close)
        self._writer.shutdown()

    def _new_consumer(self) -> AIOKafkaConsumer:
        return self._kafka.consumer(
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id="shopwindow-gateway-search",
            fetch_max_wait_ms=50,
        )

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        partitions = await partitions_of(consumer, self._topic)
        consumer.assign(partitions)
        await self._seek(consumer, partitions)
        if not self.ready and self._build is None:
            self._build = _Build(await consumer.end_offsets(partitions))
            log.info(
                "search index build started",
                extra={"records": sum(self._build.targets.values())},
            )
        await self._follow(consumer, set(partitions))

    async def _seek(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        new = [tp for tp in partitions if tp not in self._next]
        if new:
            await consumer.seek_to_beginning(*new)
        for tp in partitions:
            if tp in self._next:
                consumer.seek(tp, self._next[tp])

    async def _follow(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
        loop = asyncio.get_running_loop()
        commit_at = refresh_at = loop.time()
        pending: list[int] = []  # Timestamps (ms) of records written, not yet searchable.
        reindexed = False  # Rows changed at a price boundary, not yet searchable.
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=5000)
            for tp, records in batches.items():
                if records:
                    await self._apply(records)
                    self._next[tp] = records[-1].offset + 1
                    pending.extend(r.timestamp for r in records)
            reindexed = await self._reindex_at_boundaries() or reindexed
            building = not self.ready
            # While building, one commit at the end: segments flushed every 200 ms would
            # only be merged again.
            due = self._caught_up() if building else loop.time() >= commit_at
            if reindexed and not building:
                await loop.run_in_executor(self._writer, self._index.commit)
                reindexed = False
            if pending and due:
                await loop.run_in_executor(self._writer, self._index.commit)
                commit_at = loop.time() + self._commit_interval_s
                if not building:
                    now_ms = time.time() * 1000
                    for stamp in pending:
                        self._metrics.search_index_delay_seconds.observe(
                            max(now_ms - stamp, 0) / 1000
                        )
                pending.clear()
            if building:
                self._report_build(sum(len(r) for r in batches.values()))
            if loop.time() >= refresh_at:
                refresh_at = loop.time() + PARTITION_REFRESH_S
                assigned = await self._add_new_partitions(consumer, assigned)

    async def _apply(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        await self._write_changes([(r.key, r.value, r.offset) for r in records])

    async def _reindex_at_boundaries(self) -> bool:
        """Index again the products whose scheduled price began or ended by now, from
        their newest record; whether any was."""
        now = self._clock.now()
        due: list[Record] = []
        while self._boundaries and self._boundaries[0][0] <= now:
            moment, product_id = heapq.heappop(self._boundaries)
            found = self._rescheduled.get(product_id)
            if found is not None and found[0] == moment:
                del self._rescheduled[product_id]
                due.append(found[1])
        if due:
            await self._write_changes(due)
        return bool(due)

    async def _write_changes(self, records: list[Record]) -> None:
        loop = asyncio.get_running_loop()
        changes = await loop.run_in_executor(
            self._writer, changes_of, records, self._clock.now(), self._locales
        )
        for product_id in changes.rows:
            found = changes.next_changes.get(product_id)
            if found is None:
                self._rescheduled.pop(product_id, None)
                continue
            self._rescheduled[product_id] = found
            heapq.heappush(self._boundaries, (found[0], product_id))
        if len(self._boundaries) > 2 * len(self._rescheduled) + 64:
            # Products changed again before their boundary leave stale entries.
            self._boundaries = [(moment, p) for p, (moment, _) in self._rescheduled.items()]
            heapq.heapify(self._boundaries)
        for product_id, offset, reason in changes.unreadable:
            log.warning(
                "unreadable changelog record; the product leaves the search index",
                extra={"key": product_id, "offset": offset, "error": reason},
            )
        refused = await loop.run_in_executor(self._writer, self._write, changes)
        for product_id, reason in refused:
            log.warning(
                "changelog document refused by the search index; the product is left out",
                extra={"key": product_id, "error": reason},
            )

    def _write(self, changes: Changes) -> list[tuple[str, str]]:
        rows = [row for row in changes.rows.values() if row is not None]
        removed = [product_id for product_id, row in changes.rows.items() if row is None]
        if removed:
            self._index.remove(removed)
        return self._index.put(rows) if rows else []

    def _caught_up(self) -> bool:
        build = self._build
        return build is not None and all(
            self._next.get(tp, 0) >= end for tp, end in build.targets.items()
        )

    def _report_build(self, records: int) -> None:
        build = self._build
        if build is None:
            return
        build.records += records
        now = time.monotonic()
        if self._caught_up():
            elapsed = max(now - build.started, 1e-6)
            self.ready = True
            self._metrics.search_index_ready.set(1)
            self._metrics.search_index_build_seconds.set(elapsed)
            log.info(
                "search index built",
                extra={
                    "records": build.records,
                    "documents": self._index.count(),
                    "seconds": round(elapsed, 2),
                    "records_per_s": round(build.records / elapsed),
                },
            )
            self._build = None
        elif now - build.logged_at >= PROGRESS_LOG_INTERVAL_S:
            build.logged_at = now
            total = sum(build.targets.values())
            log.info(
                "search index building",
                extra={"records": build.records, "of": total, "documents": self._index.count()},
            )

    async def _add_new_partitions(
        self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]
    ) -> set[TopicPartition]:
        added = await added_partitions(consumer, self._topic, assigned)
        if added:
            # assign() forgets positions: the partitions read so far resume where they are.
            every = sorted(assigned | added)
            consumer.assign(every)
            await self._seek(consumer, every)
            log.info("changelog partitions added to the search feed")
        return assigned | added
