"""Folding a batch into MongoDB: read, fold, one bulk write, retry lost races."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from materializer.document_cache import DocumentCache
from materializer.events import SourcedEvent, event_time
from materializer.fold import FoldSettings, fold
from materializer.metrics import MaterializerMetrics
from materializer.store import SaleProductStore
from materializer.write_plan import WritePlan, plan_write

# Each round resolves every race it saw; more rounds than this means a writer stampede.
MAX_ROUNDS = 20


@dataclass
class WrittenBatch:
    """What a batch left in MongoDB.

    Attributes:
        changed: Documents to announce on the changelog, by product id: those this batch
            wrote, and those it found already written by an earlier attempt (whose
            announcement may have been lost in a crash).
        was_visible: Whether each changed product was visible before this batch.
        failed: Products MongoDB refused to store, with the reason.
    """

    changed: dict[str, dict[str, Any]] = field(default_factory=dict)
    was_visible: dict[str, bool] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


class BatchWriter:
    """Applies the events of a batch to their documents.

    Args:
        store: The document collection.
        settings: Tunables of the fold.
        metrics: Where to count.
        cache: Documents this process wrote; ``None`` reads every document each batch.
    """

    def __init__(
        self,
        store: SaleProductStore,
        settings: FoldSettings,
        metrics: MaterializerMetrics,
        cache: DocumentCache | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._metrics = metrics
        self._cache = cache if cache is not None else DocumentCache(0)

    async def write(self, events_by_product: Mapping[str, Sequence[SourcedEvent]]) -> WrittenBatch:
        """Fold every product's events into its document and store the results.

        Raises:
            TransientError: When MongoDB is unavailable; retry the batch later.
            RuntimeError: When races keep being lost for ``MAX_ROUNDS`` rounds.
        """
        written = WrittenBatch()
        pending = set(events_by_product)
        stored = await self._read(pending, use_cache=True)
        for _ in range(MAX_ROUNDS):
            if not pending:
                return written
            plans: dict[str, WritePlan] = {}
            folded: dict[str, tuple[dict[str, Any], tuple[SourcedEvent, ...]]] = {}
            for product_id in pending:
                old = stored.get(product_id)
                result = fold(old, product_id, events_by_product[product_id], self._settings)
                written.was_visible.setdefault(product_id, bool(old and old.get("visible")))
                if result.redelivered:
                    self._metrics.redelivered.inc(result.redelivered)
                if result.document is None:
                    if result.redelivered and old is not None:
                        written.changed[product_id] = old
                    continue
                plans[product_id] = plan_write(old, result.document)
                folded[product_id] = (result.document, result.applied)
            started = time.perf_counter()
            outcome = await self._store.write(plans)
            self._metrics.write_seconds.observe(time.perf_counter() - started)
            self._record(folded, outcome.retry, outcome.failed, written)
            self._cache.forget([*outcome.retry, *outcome.failed])
            pending = outcome.retry
            if pending:
                stored = await self._read(pending, use_cache=False)
        raise RuntimeError(f"{len(pending)} documents kept losing write races")

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
        self,
        folded: Mapping[str, tuple[dict[str, Any], tuple[SourcedEvent, ...]]],
        retry: set[str],
        failed: Mapping[str, str],
        written: WrittenBatch,
    ) -> None:
        written.failed.update(failed)
        now = datetime.now(UTC)
        for product_id, (document, applied) in folded.items():
            if product_id in retry or product_id in failed:
                continue
            written.changed[product_id] = document
            self._cache.put(product_id, document)
            self._metrics.documents_written.inc()
            for sourced in applied:
                self._metrics.applied.labels(sourced.position.topic).inc()
                when = event_time(sourced.event)
                if when is not None:
                    self._metrics.freshness_seconds.observe(max((now - when).total_seconds(), 0))
