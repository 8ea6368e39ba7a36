"""Keeps a replica's search index current: the compacted changelog, from its beginning.

At start the feed reads every partition from offset 0 (the latest document of every
product, compaction permitting) and notes the end offsets it has to reach; the replica
is ready once the index holds everything up to them. It then follows the changelog and
makes changes searchable every ``commit_interval_ms``. A hidden product's document, a
tombstone and an unreadable record all take the product out of the index.

Writes run in one thread of their own: tantivy calls hold the CPU for a while, and the
event loop must keep serving meanwhile. After a broker failure the feed reconnects and
resumes from the offsets it has indexed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from shopwindow.document import NewerSchemaVersion, decode_changelog_value
from shopwindow.gateway.metrics import GatewayMetrics
from shopwindow.gateway.search.engine import SearchIndex
from shopwindow.gateway.search.rows import IndexRow, row_of
from shopwindow.sale_product import read_sale_product

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


def changes_of(records: Sequence[ConsumerRecord[Any, Any]]) -> dict[str, IndexRow | None]:
    """The newest row per product in ``records``; ``None`` takes a product out."""
    changes: dict[str, IndexRow | None] = {}
    for record in records:
        if record.key is None:
            continue
        product_id = record.key.decode("utf-8", "replace")
        if record.value is None:
            changes[product_id] = None
            continue
        try:
            changes[product_id] = row_of(read_sale_product(decode_changelog_value(record.value)))
        except (ValueError, ArithmeticError, TypeError, KeyError, NewerSchemaVersion) as error:
            log.warning(
                "unreadable changelog record; the product leaves the search index",
                extra={"key": product_id, "offset": record.offset, "error": str(error)},
            )
            changes[product_id] = None
    return changes


class SearchFeed:
    """Feeds a ``SearchIndex`` from the changelog.

    Args:
        bootstrap_servers: Kafka bootstrap list.
        topic: The changelog topic.
        index: The index to keep current.
        commit_interval_ms: How often changes become searchable.
        metrics: Reports documents, delay and readiness.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        index: SearchIndex,
        commit_interval_ms: int,
        metrics: GatewayMetrics,
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._topic = topic
        self._index = index
        self._commit_interval_s = commit_interval_ms / 1000
        self._metrics = metrics
        self._next: dict[TopicPartition, int] = {}
        self._build: _Build | None = None
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="search-writer")
        self._task: asyncio.Task[None] | None = None
        self.ready = False
        metrics.search_documents.set_function(index.count)

    async def start(self) -> None:
        """Start building the index, then following the changelog, in the background."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop reading and release the index."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.get_running_loop().run_in_executor(self._writer, self._index.close)
        self._writer.shutdown()

    async def _run(self) -> None:
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap_servers,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                client_id="shopwindow-gateway-search",
                fetch_max_wait_ms=50,
            )
            try:
                await consumer.start()
                partitions = await self._partitions(consumer)
                consumer.assign(partitions)
                await self._seek(consumer, partitions)
                if not self.ready and self._build is None:
                    self._build = _Build(await consumer.end_offsets(partitions))
                    log.info(
                        "search index build started",
                        extra={"records": sum(self._build.targets.values())},
                    )
                await self._follow(consumer, set(partitions))
            except KafkaError as error:
                log.warning("search feed restarting", extra={"error": str(error)})
                await asyncio.sleep(1)
            except Exception:
                log.exception("search feed failed; restarting")
                await asyncio.sleep(1)
            finally:
                await consumer.stop()

    async def _seek(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        new = [tp for tp in partitions if tp not in self._next]
        if new:
            await consumer.seek_to_beginning(*new)
        for tp in partitions:
            if tp in self._next:
                consumer.seek(tp, self._next[tp])

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        while True:
            await consumer.topics()  # Refreshes the metadata.
            found = consumer.partitions_for_topic(self._topic)
            if found:
                return [TopicPartition(self._topic, p) for p in sorted(found)]
            log.warning("changelog topic not found; waiting", extra={"topic": self._topic})
            await asyncio.sleep(1)

    async def _follow(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
        loop = asyncio.get_running_loop()
        commit_at = refresh_at = loop.time()
        pending: list[int] = []  # Timestamps (ms) of records written, not yet searchable.
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=5000)
            for tp, records in batches.items():
                if records:
                    await loop.run_in_executor(self._writer, self._write, records)
                    self._next[tp] = records[-1].offset + 1
                    pending.extend(r.timestamp for r in records)
            building = not self.ready
            # While building, one commit at the end: segments flushed every 200 ms would
            # only be merged again.
            due = self._caught_up() if building else loop.time() >= commit_at
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

    def _write(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        changes = changes_of(records)
        rows = [row for row in changes.values() if row is not None]
        removed = [product_id for product_id, row in changes.items() if row is None]
        if removed:
            self._index.remove(removed)
        if rows:
            self._index.put(rows)

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
        await consumer.topics()  # Refreshes the metadata.
        found = {
            TopicPartition(self._topic, p) for p in consumer.partitions_for_topic(self._topic) or ()
        }
        added = found - assigned
        if added:
            # assign() forgets positions: the partitions read so far resume where they are.
            consumer.assign(sorted(found))
            await self._seek(consumer, sorted(found))
            log.info("changelog partitions added to the search feed")
        return assigned | added
