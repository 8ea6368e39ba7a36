"""The changelog reader of one gateway process, feeding the live fan-out and the cache.

Each gateway process reads ``saleproduct.changes`` from its end, without a consumer
group, and hands each change of a followed product to the fan-out
(``gateway.live.fanout``), which executes it once per group of like subscriptions.

No gap between the current value and the changes: a subscription joins the fan-out
first and its current document is read second; the changelog is written after MongoDB,
so every later change reaches it. The reader starts from the end of the changelog, so
after any restart of the reader it reads the current document of every followed
product again: what changed while it was away reaches subscribers too, a product gone
meanwhile included. Partitions added to the changelog later are found by a periodic
metadata refresh and read from their beginning.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from shopwindow.document import NewerSchemaVersion, decode_changelog_value
from shopwindow.gateway.live.fanout import FanOut
from shopwindow.gateway.reads.changelog_reading import (
    added_partitions,
    partitions_of,
    reading_loop,
)
from shopwindow.gateway.reads.consistency import AppliedPositions
from shopwindow.gateway.reads.document_cache import (
    CURRENT_LAG_RECORDS,
    CURRENT_WITHIN_MS,
    DocumentCache,
    ReaderState,
)
from shopwindow.gateway.reads.loaders import ProductDocuments
from shopwindow.kafka_clients import KafkaConnection
from shopwindow.sale_product import SaleProduct, read_sale_product
from shopwindow.tracing import context_of

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 2.0


class ChangelogHub:
    """Reads the changelog and delivers each change to that product's subscribers.

    Args:
        kafka: The Kafka cluster.
        topic: The changelog topic.
        documents: Reads current documents for new subscribers.
        partition_refresh_s: How often to look for new changelog partitions.
        cache: The document cache this reader feeds, if any.
        progress_topic: The materializer's progress topic, followed into ``applied``.
    """

    def __init__(
        self,
        kafka: KafkaConnection,
        topic: str,
        documents: ProductDocuments,
        partition_refresh_s: float = 10.0,
        cache: DocumentCache | None = None,
        progress_topic: str | None = None,
    ) -> None:
        self._kafka = kafka
        self._topic = topic
        self._documents = documents
        self._partition_refresh_s = partition_refresh_s
        self._cache = cache if cache is not None and cache.enabled else None
        self._progress_topic = progress_topic
        self.applied = AppliedPositions()
        self._fanout: FanOut | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._reader = reading_loop(
            "changelog reader", self._new_consumer, self._read, self._forget
        )
        # The next offset to read per partition, as far as this reader knows.
        self._next: dict[TopicPartition, int] = {}

    def feed(self, fanout: FanOut) -> None:
        """Hand changes of followed products to ``fanout`` from now on."""
        self._fanout = fanout

    def is_current(self) -> bool:
        """Whether the reader has heard from the broker within ``CURRENT_WITHIN_MS`` on
        every partition and is at most ``CURRENT_LAG_RECORDS`` behind: then the document
        cache it feeds may answer."""
        return self.state().current

    def state(self) -> ReaderState:
        """``is_current`` and ``lag`` in one pass: a kept answer needs both, and each
        reads every partition's position."""
        consumer = self._consumer
        lag = self.lag()
        if consumer is None or lag is None or lag > CURRENT_LAG_RECORDS:
            return ReaderState(False, lag)
        oldest_allowed_ms = time.time() * 1000 - CURRENT_WITHIN_MS
        for tp in self._next:
            polled_ms = consumer.last_poll_timestamp(tp)
            if polled_ms is None or polled_ms < oldest_allowed_ms:
                return ReaderState(False, lag)
        return ReaderState(True, lag)

    def lag(self) -> int | None:
        """Changelog records this reader has not read yet, by the broker's last report;
        ``None`` while it is not reading."""
        consumer = self._consumer
        if consumer is None or not self._next:
            return None
        behind = 0
        for tp, next_offset in self._next.items():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                behind += max(highwater - next_offset, 0)
        return behind

    async def start(self) -> None:
        """Start reading the changelog from its end, in the background.

        The reader waits out an unavailable broker; ``cluster_topics()`` reports it meanwhile.
        """
        self._reader.start()

    async def stop(self) -> None:
        """Stop reading."""
        await self._reader.stop()

    async def cluster_topics(self) -> set[str] | None:
        """The cluster's topics, from a fresh metadata request; None while the broker
        does not answer."""
        if self._consumer is None:
            return None
        try:
            return await asyncio.wait_for(self._consumer.topics(), PROBE_TIMEOUT_S)
        except Exception:
            return None

    def _new_consumer(self) -> AIOKafkaConsumer:
        return self._kafka.consumer(
            enable_auto_commit=False,
            auto_offset_reset="latest",
            client_id="shopwindow-gateway-live",
            # Changes are small and latency is the point: do not let fetches linger.
            fetch_max_wait_ms=50,
        )

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        partitions = await partitions_of(consumer, self._topic)
        progress = self._progress_partitions(consumer)
        consumer.assign([*partitions, *progress])
        await consumer.seek_to_end(*partitions)
        if progress:
            # Compacted: from the beginning, the latest position of each source
            # partition, then every new one.
            await consumer.seek_to_beginning(*progress)
        for tp in partitions:
            # Fixes the end before the re-read below.
            self._next[tp] = await consumer.position(tp)
        if self._cache is not None:
            # Whatever changed while no reader read is not on the changelog ahead.
            self._cache.clear()
        await self._reread_subscribed()
        await self._follow(consumer, set(partitions))

    def _forget(self) -> None:
        self._consumer = None
        self._next.clear()

    async def _follow(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
        loop = asyncio.get_running_loop()
        refresh_at = loop.time() + self._partition_refresh_s
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, records in batches.items():
                if tp.topic != self._topic:
                    for record in records:
                        self.applied.record(record.value)
                    continue
                for record in records:
                    self._dispatch(record.key, record.value, record.headers)
                if records:
                    self._next[tp] = records[-1].offset + 1
            if loop.time() >= refresh_at:
                refresh_at = loop.time() + self._partition_refresh_s
                assigned = await self._add_new_partitions(consumer, assigned)

    def _progress_partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        if self._progress_topic is None:
            return []
        found = consumer.partitions_for_topic(self._progress_topic) or ()
        if not found:
            log.warning(
                "progress topic not found; read-your-writes waits will time out",
                extra={"topic": self._progress_topic},
            )
        return [TopicPartition(self._progress_topic, p) for p in sorted(found)]

    async def _add_new_partitions(
        self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]
    ) -> set[TopicPartition]:
        added = await added_partitions(consumer, self._topic, assigned)
        if not added:
            return assigned
        # assign() forgets positions; those of the partitions read so far are kept, the
        # progress topic's included.
        kept = assigned | set(consumer.assignment()) - added
        positions = {tp: await consumer.position(tp) for tp in kept}
        consumer.assign(sorted(kept | added))
        for tp, offset in positions.items():
            consumer.seek(tp, offset)
        # Everything in a partition that did not exist before is new to every subscriber.
        await consumer.seek_to_beginning(*added)
        self._next.update((tp, 0) for tp in added)
        log.info(
            "changelog partitions added", extra={"partitions": sorted(tp.partition for tp in added)}
        )
        return assigned | added

    async def _reread_subscribed(self) -> None:
        fanout = self._fanout
        product_ids = fanout.products() if fanout is not None else []
        if not product_ids:
            return
        assert fanout is not None
        docs = await self._documents.by_ids(product_ids)
        for product_id, doc in zip(product_ids, docs, strict=True):
            if isinstance(doc, SaleProduct):
                fanout.changed(doc)
            elif doc is None:
                fanout.gone(product_id, None)

    def _dispatch(
        self, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        if key is None:
            return
        product_id = key.decode("utf-8", "replace")
        cache = self._cache
        fanout = self._fanout
        if value is None:
            # A tombstone: the product was deleted or hidden.
            version = _version_header(headers)
            if cache is not None:
                if version is None:
                    cache.forget(product_id)
                else:
                    cache.gone(product_id, version)
            if fanout is not None:
                fanout.gone(product_id, version)
            return
        followed = fanout is not None and fanout.follows(product_id)
        if not followed and cache is None:
            return
        try:
            doc = read_sale_product(decode_changelog_value(value))
        except (ValueError, ArithmeticError, TypeError, KeyError, NewerSchemaVersion) as error:
            log.warning("unreadable changelog record", extra={"key": key, "error": str(error)})
            if cache is not None:
                cache.forget(product_id)  # MongoDB answers for it from now on.
            return
        if cache is not None:
            cache.put(doc, len(value))
        if followed:
            assert fanout is not None
            fanout.changed(doc, context_of(headers))


def _version_header(headers: Sequence[tuple[str, bytes]]) -> int | None:
    for name, value in headers:
        if name == "version":
            try:
                return int(value)
            except ValueError:
                return None
    return None
