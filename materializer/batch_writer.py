"""Folding a batch into MongoDB: read, fold, one bulk write, retry lost races.

A product whose events raise in the fold, or whose document MongoDB or the changelog
would refuse, is folded again one event at a time (``isolation``): the culprits become
dead letters and the rest of its events are written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shopwindow.document import META, encode_changelog_value
from shopwindow.materializer.document_cache import DocumentCache
from shopwindow.materializer.events import Position, SourcedEvent
from shopwindow.materializer.fold import FoldResult, FoldSettings, KeyedStore, fold
from shopwindow.materializer.isolation import fold_isolating
from shopwindow.materializer.metrics import MaterializerMetrics
from shopwindow.materializer.sources.base import entry_id
from shopwindow.materializer.storable import changelog_value_refusal, refusal
from shopwindow.materializer.store import SaleProductStore
from shopwindow.materializer.write_plan import DIFFED_PATHS, WritePlan, plan_write

# Each round resolves every race it saw; more rounds than this means a writer stampede.
MAX_ROUNDS = 20


@dataclass
class WrittenBatch:
    """What a batch left in MongoDB.

    Attributes:
        changed: Documents to announce on the changelog, by product id: those this batch
            wrote, and those it found already written by an earlier attempt (whose
            announcement may have been lost in a crash or a failed publish).
        changelog_values: The encoded public view of each written document.
        was_visible: Whether each changed product was visible before this batch.
        reannounced: Products whose document an earlier attempt wrote; their changelog
            record (a tombstone too) is sent again, since it may never have been sent.
        refused: Events left out of their product's document, by position and product,
            with the reason: they raised in the fold or made the document unstorable.
        failed: Products MongoDB refused to store even without the refused events.
        unflushed: Unchanged documents that still hold pending keyed entries.
    """

    changed: dict[str, dict[str, Any]] = field(default_factory=dict)
    changelog_values: dict[str, bytes] = field(default_factory=dict)
    was_visible: dict[str, bool] = field(default_factory=dict)
    reannounced: set[str] = field(default_factory=set)
    refused: dict[tuple[Position, str], str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    unflushed: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Folded:
    result: FoldResult
    changelog_value: bytes | None
    refused: tuple[tuple[SourcedEvent, str], ...] = ()


class BatchWriter:
    """Applies the events of a batch to their documents.

    Args:
        store: The document collection.
        settings: Tunables of the fold.
        metrics: Where to count.
        cache: Documents this process wrote; ``None`` reads every document each batch.
        clock: The time a document is materialized at (``materialized_at``).
        version_floor: While a new generation is built: the served generation's store.
            A document written here gets a version above the served one's, so that the
            switch never shows a client a version going back.
    """

    def __init__(
        self,
        store: SaleProductStore,
        settings: FoldSettings,
        metrics: MaterializerMetrics,
        cache: DocumentCache | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        version_floor: SaleProductStore | None = None,
    ) -> None:
        self._store = store
        self._version_floor = version_floor
        self._settings = settings
        self._metrics = metrics
        self._cache = cache if cache is not None else DocumentCache(0)
        self._sections = frozenset(
            name for source in settings.sources for name in source.public_fields
        )
        self._diffed = DIFFED_PATHS | {s.entries for s in settings.sources if s.entries}
        self._clock = clock

    async def write(self, events_by_product: Mapping[str, Sequence[SourcedEvent]]) -> WrittenBatch:
        """Fold every product's events into its document and store the results.

        Raises:
            TransientError: When MongoDB is unavailable; retry the batch later.
            RuntimeError: When races keep being lost for ``MAX_ROUNDS`` rounds.
        """
        written = WrittenBatch()
        pending = set(events_by_product)
        isolating: set[str] = set()
        stored = await self._read(pending, use_cache=True)
        keyed = await self._read_keyed(events_by_product)
        floors = (
            await self._version_floor.versions(pending) if self._version_floor is not None else {}
        )
        for _ in range(MAX_ROUNDS):
            if not pending:
                await self._flush_keyed(written)
                return written
            plans: dict[str, WritePlan] = {}
            folded: dict[str, _Folded] = {}
            for product_id in pending:
                old = stored.get(product_id)
                events = events_by_product[product_id]
                attempt = self._fold(
                    old,
                    product_id,
                    events,
                    keyed,
                    isolate=product_id in isolating,
                    floor=floors.get(product_id),
                )
                for sourced, reason in attempt.refused:
                    written.refused[(sourced.position, product_id)] = reason
                result = attempt.result
                written.was_visible.setdefault(product_id, bool(old and old.get("visible")))
                if result.redelivered:
                    self._metrics.redelivered.inc(result.redelivered)
                if result.document is None:
                    if result.redelivered and old is not None:
                        written.changed[product_id] = old
                        written.reannounced.add(product_id)
                    if old is not None and any(old[META]["pending"].values()):
                        written.unflushed[product_id] = old  # An earlier attempt's entries.
                    continue
                plans[product_id] = plan_write(old, result.document, self._diffed)
                folded[product_id] = attempt
            started = time.perf_counter()
            outcome = await self._store.write(plans)
            self._metrics.write_seconds.observe(time.perf_counter() - started)
            # A refused product is folded again event by event to single out the
            # culprits; refused again after that, its events are dead-lettered whole.
            again = {pid for pid in outcome.failed if pid not in isolating}
            isolating |= again
            written.failed.update(
                (pid, reason) for pid, reason in outcome.failed.items() if pid not in again
            )
            self._record(folded, outcome.retry | again, written)
            self._cache.forget([*outcome.retry, *outcome.failed])
            pending = outcome.retry | again
            if pending:
                stored = await self._read(pending, use_cache=False)
                # After the documents, as at the start: the writer that won may have
                # flushed entries these events concern, and an entry the fold does not
                # see counts as new (its review twice).
                keyed = await self._read_keyed(events_by_product)
        raise RuntimeError(f"{len(pending)} documents kept losing write races")

    def _fold(
        self,
        old: dict[str, Any] | None,
        product_id: str,
        events: Sequence[SourcedEvent],
        keyed: KeyedStore,
        *,
        isolate: bool,
        floor: int | None = None,
    ) -> _Folded:
        if not isolate:
            try:
                result = self._stamped(fold(old, product_id, events, self._settings, keyed), floor)
                value = self._changelog_value(result)
                if value is None or changelog_value_refusal(value) is None:
                    return _Folded(result, value)
            except Exception:
                pass  # Some event is poison: single it out below.
        isolated = fold_isolating(old, product_id, events, self._settings, refusal, keyed)
        result = self._stamped(isolated.result, floor)
        return _Folded(result, self._changelog_value(result), isolated.refused)

    def _stamped(self, result: FoldResult, floor: int | None) -> FoldResult:
        # The fold has no clock; the write is what materializes the document.
        if result.document is not None:
            result.document["materialized_at"] = _to_millis(self._clock())
            if floor is not None:
                result.document["version"] = max(result.document["version"], floor + 1)
        return result

    @property
    def generation(self) -> int:
        """The generation written to."""
        return self._store.generation

    def use_generation(self, generation: int) -> None:
        """Write ``generation``'s collections from now on, forgetting every document
        kept from the one before."""
        self._store.use_generation(generation)
        self._cache.clear()

    def _changelog_value(self, result: FoldResult) -> bytes | None:
        doc = result.document
        if doc is None or not doc["visible"]:
            return None  # Nothing to write, or a tombstone.
        return encode_changelog_value(doc, self._sections)

    async def _read_keyed(
        self, events_by_product: Mapping[str, Sequence[SourcedEvent]]
    ) -> KeyedStore:
        # Every entry an event of the batch concerns is read before the fold: an entry
        # the fold did not see would count as new, and its review twice.
        wanted: dict[str, set[str]] = {}
        for product_id, events in events_by_product.items():
            for sourced in events:
                keyed_state = sourced.source.keyed_state
                if keyed_state is not None:
                    key = entry_id(product_id, keyed_state.key_of(sourced.event))
                    wanted.setdefault(keyed_state.collection, set()).add(key)
        return {
            collection: await self._store.load_keyed(collection, keys)
            for collection, keys in wanted.items()
        }

    async def _flush_keyed(self, written: WrittenBatch) -> None:
        # The document is written first, with its new entries pending inside it; once
        # they are in their collections, they leave the document. A crash in between
        # leaves them pending, and the next write of the document flushes them again.
        documents = {**written.unflushed, **written.changed}
        pending = {pid: doc for pid, doc in documents.items() if any(doc[META]["pending"].values())}
        if await self._store.flush_pending(pending):
            for product_id, doc in pending.items():
                self._cache.put(product_id, {**doc, META: {**doc[META], "pending": {}}})
        else:
            self._cache.forget(pending)

    async def _read(self, product_ids: set[str], *, use_cache: bool) -> dict[str, Any]:
        found: dict[str, Any] = {}
        missing = set(product_ids)
        if use_cache:
            for product_id in product_ids:
                doc = self._cache.get(product_id)
                if doc is not None:
                    found[product_id] = doc
                    missing.discard(product_id)
        if missing:
            found |= await self._store.load(missing)
        return found

    def _record(
        self, folded: Mapping[str, _Folded], not_written: set[str], written: WrittenBatch
    ) -> None:
        now = datetime.now(UTC)
        for product_id, attempt in folded.items():
            if product_id in not_written or product_id in written.failed:
                continue
            document = attempt.result.document
            assert document is not None
            written.changed[product_id] = document
            if attempt.changelog_value is not None:
                written.changelog_values[product_id] = attempt.changelog_value
            self._cache.put(product_id, document)
            self._metrics.documents_written.inc()
            for sourced in attempt.result.applied:
                self._metrics.applied.labels(sourced.position.topic).inc()
                when = sourced.time
                if when is not None:
                    self._metrics.freshness_seconds.observe(max((now - when).total_seconds(), 0))


def _to_millis(time: datetime) -> datetime:
    # MongoDB keeps milliseconds; the changelog then announces what is stored.
    return time.replace(microsecond=time.microsecond // 1000 * 1000)
