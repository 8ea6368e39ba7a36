"""The consume loop: Kafka batch -> fold into MongoDB -> changelog -> commit.

Offsets are committed only after the batch's documents are written and announced on
the changelog and its dead letters are published. A retriable failure (MongoDB or Kafka
unavailable) backs off and retries the same batch without committing; the fold's
watermarks make every retry and every redelivery after a crash or rebalance harmless.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from shopwindow.materializer.batch import Batch, build_batch
from shopwindow.materializer.batch_writer import BatchWriter, WrittenBatch
from shopwindow.materializer.errors import TransientError
from shopwindow.materializer.events import Position
from shopwindow.materializer.generation_follower import GenerationFollower
from shopwindow.materializer.metrics import MaterializerMetrics
from shopwindow.materializer.parking import (
    ParkingPlan,
    ParkKey,
    keys_of,
    letters_opened,
    merge_letters,
    plan_parking,
    position_text,
    undecodable,
)
from shopwindow.materializer.parking_store import ParkingStore
from shopwindow.materializer.publishing import (
    DeadLetter,
    OutgoingRecord,
    RefusedRecord,
    changelog_record,
    dead_letter_record,
    progress_record,
    refused_record_letter,
    send_all,
    with_headers,
)
from shopwindow.materializer.sources import SourceRegistry
from shopwindow.settings import MaterializerSettings
from shopwindow.tracing import context_of, links_to, trace_headers, tracer

log = logging.getLogger(__name__)

Records = Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]


class Backoff:
    """Exponential backoff with full jitter, in milliseconds."""

    def __init__(self, initial_ms: int, max_ms: int) -> None:
        self._initial_ms = initial_ms
        self._max_ms = max_ms
        self._attempt = 0

    def next_delay_s(self) -> float:
        """The next pause, growing until ``max_ms``."""
        ceiling = min(self._max_ms, self._initial_ms * 2**self._attempt)
        self._attempt = min(self._attempt + 1, 30)
        return random.uniform(ceiling / 2, ceiling) / 1000

    def reset(self) -> None:
        """Start again from ``initial_ms``."""
        self._attempt = 0


class ConsumeLoop:
    """Runs batches through the writer and commits them.

    Args:
        consumer: A started consumer subscribed to the source topics, auto-commit off.
        producer: A started producer for the changelog and dead-letter topics.
        writer: Folds and stores batches.
        settings: The materializer's settings.
        metrics: Where to count.
        registry: The installed sources.
        follower: For a live member: keeps it on the served generation.
        publish: Whether to send the changelog, progress and dead letters; a rebuild
            builds a generation nobody reads yet and only counts its dead letters.
        parking: With ``SHOPWINDOW_DLQ_PARK_KEYS``: the open letters of parked keys.
    """

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        writer: BatchWriter,
        settings: MaterializerSettings,
        metrics: MaterializerMetrics,
        registry: SourceRegistry,
        *,
        follower: GenerationFollower | None = None,
        publish: bool = True,
        parking: ParkingStore | None = None,
    ) -> None:
        self._consumer = consumer
        self._follower = follower
        self._publish = publish
        self._parking = parking
        self.unpublished_dead_letters: Counter[str] = Counter()
        self._producer = producer
        self._writer = writer
        self._settings = settings
        self._metrics = metrics
        self._routes = registry.routes(settings.topics)
        self._sections = registry.sections
        self._backoff = Backoff(settings.retry_backoff_initial_ms, settings.retry_backoff_max_ms)
        self.failing_dependency: str | None = None

    def assignment(self) -> set[tuple[str, int]]:
        """The ``(topic, partition)`` pairs assigned to this member."""
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    async def run_forever(self) -> None:
        """Consume until cancelled."""
        while True:
            await self.run_once()

    async def run_once(self) -> int:
        """Fetch one batch and see it through, retrying while a dependency is down.

        Returns:
            The number of records in the batch.
        """
        await self._hold()
        records = await self._fetch()
        count = sum(len(batch) for batch in records.values())
        if count:
            self._metrics.batch_records.observe(count)
            await self._process_until_done(records)
        await self._report_lag()
        return count

    async def _fetch(self) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        limit = self._settings.batch_max_records
        records: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {
            tp: list(batch)
            for tp, batch in (
                await self._consumer.getmany(
                    timeout_ms=self._settings.poll_timeout_ms, max_records=limit
                )
            ).items()
        }
        count = sum(len(batch) for batch in records.values())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.batch_linger_ms / 1000
        while 0 < count < limit and (remaining_s := deadline - loop.time()) > 0:
            more = await self._consumer.getmany(
                timeout_ms=max(int(remaining_s * 1000), 1), max_records=limit - count
            )
            for tp, batch in more.items():
                records.setdefault(tp, []).extend(batch)
                count += len(batch)
        return records

    async def _hold(self) -> None:
        while self._follower is not None:
            try:
                await self._follower.hold(self._consumer)
                return
            except TransientError as error:
                self._on_outage(error)
                await asyncio.sleep(self._backoff.next_delay_s())

    async def _process_until_done(self, records: Records) -> None:
        while True:
            assigned = self._consumer.assignment()
            # After a rebalance, partitions taken away belong to another process now.
            records = {tp: batch for tp, batch in records.items() if tp in assigned}
            if not records:
                return
            try:
                await self._process(records)
            except TransientError as error:
                self._on_outage(error)
                await asyncio.sleep(self._backoff.next_delay_s())
                continue
            if self.failing_dependency is not None:
                log.info("recovered", extra={"dependency": self.failing_dependency})
            self.failing_dependency = None
            self._backoff.reset()
            return

    def _on_outage(self, error: TransientError) -> None:
        if self.failing_dependency is None:
            log.warning("dependency unavailable; retrying", extra={"error": str(error)})
        self.failing_dependency = error.dependency
        self._metrics.retries.labels(error.dependency).inc()

    async def _process(self, records: Records) -> None:
        # The batch span links every source record that carries a trace context; the
        # changelog records it publishes carry the batch span's context on.
        links = links_to(context_of(r.headers) for tp in records for r in records[tp])
        with tracer().start_as_current_span("materializer batch", links=links) as span:
            span.set_attribute("messaging.batch.message_count", sum(map(len, records.values())))
            await self._process_traced(records)

    async def _process_traced(self, records: Records) -> None:
        batch = build_batch(
            (record for tp in sorted(records) for record in records[tp]),
            self._routes,
            timedelta(seconds=self._settings.max_future_skew_s),
        )
        parking = await self._park(batch) if self._parking is not None else None
        with tracer().start_as_current_span("mongodb write") as span:
            span.set_attribute("db.system", "mongodb")
            written = await self._writer.write(batch.events_by_product)
        if self._follower is not None and not await self._follower.confirms(
            self._writer.generation
        ):
            # Written to a generation switched away from meanwhile: neither announced
            # nor committed, but read again into the served one.
            for tp, batch_records in records.items():
                self._consumer.seek(tp, batch_records[0].offset)
            return
        dead_letter_topic = self._settings.topics.dead_letter
        letters = batch.dead_letters + self._unwritten(batch, written)
        if self._parking is not None and parking is not None:
            # Before the commit: a letter opened here is never forgotten.
            plan, failed = parking
            opened = merge_letters(plan.opened, self._opened(batch, written, plan, failed))
            await self._parking.update(opened, plan.closed)
        if not self._publish:
            await self._commit(batch)
            for letter in letters:
                self.unpublished_dead_letters[letter.position.topic] += 1
                log.warning(
                    "would dead-letter",
                    extra={"topic": letter.position.topic, "reason": letter.reason},
                )
            return
        outgoing = self._changelog(written)
        outgoing += [dead_letter_record(dead_letter_topic, x) for x in letters]
        # Sent with the batch's other records, before the commit: once they are
        # acknowledged, every record of the batch is applied, dead letters included.
        outgoing += [
            progress_record(self._settings.topics.progress, topic, partition, next_offset)
            for (topic, partition), next_offset in batch.next_offsets.items()
        ]
        refused = await send_all(self._producer, outgoing)
        if refused:
            await self._dead_letter_refused(batch, refused)
        await self._commit(batch)
        for topic, count in batch.consumed.items():
            self._metrics.consumed.labels(topic).inc(count)
        for letter in letters:
            self._metrics.count_dead_letter(letter.position.topic, letter.reason)
            log.warning(
                "dead-lettered",
                extra={
                    "topic": letter.position.topic,
                    "partition": letter.position.partition,
                    "offset": letter.position.offset,
                    "reason": letter.reason,
                },
            )

    def _changelog(self, written: WrittenBatch) -> list[OutgoingRecord]:
        topic = self._settings.topics.changelog
        traced = trace_headers()
        return [
            with_headers(
                changelog_record(
                    topic, product_id, doc, self._sections, written.changelog_values.get(product_id)
                ),
                traced,
            )
            for product_id, doc in written.changed.items()
            # A product that was never visible has nothing to retract; one whose write an
            # earlier attempt made may have lost its record, tombstone included.
            if doc["visible"]
            or written.was_visible.get(product_id, True)
            or product_id in written.reannounced
        ]

    async def _park(self, batch: Batch) -> tuple[ParkingPlan, dict[ParkKey, set[int]]]:
        # Takes the events that wait behind an open letter out of the batch, as dead
        # letters of their own.
        assert self._parking is not None
        failed = undecodable(batch)
        keys = {
            key
            for product_id, events in batch.events_by_product.items()
            for sourced in events
            for key in keys_of(batch, sourced, product_id)
        }
        plan = plan_parking(batch, await self._parking.load(keys | set(failed)), failed)
        waiting = {(product_id, sourced.position) for product_id, sourced, _ in plan.parked}
        reasons: dict[Position, str] = {}
        for product_id, sourced, reason in plan.parked:
            reasons.setdefault(sourced.position, reason)
            kept = [
                e
                for e in batch.events_by_product.get(product_id, ())
                if (product_id, e.position) not in waiting
            ]
            if kept:
                batch.events_by_product[product_id] = kept
            else:
                batch.events_by_product.pop(product_id, None)
        batch.dead_letters += [batch.dead_letter(p, reason) for p, reason in reasons.items()]
        return plan, failed

    @staticmethod
    def _opened(
        batch: Batch, written: WrittenBatch, plan: ParkingPlan, failed: dict[ParkKey, set[int]]
    ) -> dict[ParkKey, set[str]]:
        refused = list(written.refused)
        for product_id in written.failed:
            refused += [(e.position, product_id) for e in batch.events_by_product[product_id]]
        opened = letters_opened(batch, refused, plan.ranks)
        for key, offsets in failed.items():
            opened.setdefault(key, set()).update(
                position_text(key.partition, offset) for offset in offsets
            )
        return opened

    @staticmethod
    def _unwritten(batch: Batch, written: WrittenBatch) -> list[DeadLetter]:
        reasons: dict[Position, str] = {}
        for (position, product_id), reason in written.refused.items():
            reasons.setdefault(position, f"product {product_id!r}: {reason}")
        for product_id, reason in written.failed.items():
            for sourced in batch.events_by_product[product_id]:
                reasons.setdefault(
                    sourced.position, f"MongoDB refused the document of {product_id!r}: {reason}"
                )
        return [batch.dead_letter(position, reason) for position, reason in reasons.items()]

    async def _dead_letter_refused(self, batch: Batch, refused: list[RefusedRecord]) -> None:
        # What the broker refused is dead-lettered without its value (the value is what
        # did not fit); a refused dead letter names its source in its own headers.
        letters = []
        for item in refused:
            record = item.record
            self._metrics.publish_refused.labels(record.topic).inc()
            log.error(
                "record refused by the broker",
                extra={"topic": record.topic, "key": record.key, "reason": item.reason},
            )
            sources: list[Position] = []
            if record.topic == self._settings.topics.changelog and record.key is not None:
                product_id = record.key.decode("utf-8", "replace")
                sources = [e.position for e in batch.events_by_product.get(product_id, ())]
            letters.append(refused_record_letter(self._settings.topics.dead_letter, item, sources))
        for lost in await send_all(self._producer, letters):
            self._metrics.publish_refused.labels(lost.record.topic).inc()
            log.error(
                "dead letter refused by the broker; only this log keeps it",
                extra={"key": lost.record.key, "headers": lost.record.headers},
            )

    async def _commit(self, batch: Batch) -> None:
        offsets = {TopicPartition(t, p): offset for (t, p), offset in batch.next_offsets.items()}
        try:
            await self._consumer.commit(offsets)
            self._metrics.last_commit.set_to_current_time()
        except CommitFailedError as error:
            # The group rebalanced: another member re-reads from the last commit, and
            # the fold skips what this batch already applied.
            log.warning("commit rejected after rebalance", extra={"error": str(error)})
        except KafkaError as error:
            raise TransientError("kafka", f"commit: {type(error).__name__}: {error}") from error

    async def _report_lag(self) -> None:
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                position = await self._consumer.position(tp)
            except KafkaError:
                continue
            lag = max(highwater - position, 0)
            self._metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)
