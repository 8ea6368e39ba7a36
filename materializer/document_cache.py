"""The documents this process wrote last, so hot products are not read back each batch.

Safe with any number of writers: every write is guarded by the revision the fold
started from, so a cached document that another process has since changed makes the
write match nothing, and the batch writer re-reads it from MongoDB.

**The bound is in bytes of memory**, because a document's size is not fixed: it grows
as its product's recent ids, price histories and variants fill up to their own bounds
(see ``docs/operating.md``), from about 3 KiB of JSON to over 15 KiB in the demo shop.
A bound in documents left a week-old process's memory to that growth. A document's
memory is estimated from its JSON encoding (orjson: about 20 µs for 12 KB, where BSON
with the Decimal codec takes 15 times as long): decoded, the demo's documents take
5.75 times their JSON in Python objects (tracemalloc), so each JSON byte counts as
``MEMORY_PER_JSON_BYTE``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import orjson
from prometheus_client import Gauge

from shopwindow.materializer.metrics import MaterializerMetrics

MEMORY_PER_JSON_BYTE = 6


def encoded_size(doc: dict[str, Any]) -> int:
    """The bytes ``doc`` counts for against the bound: the memory its objects take,
    estimated from its JSON encoding's length."""
    return len(orjson.dumps(doc, default=str)) * MEMORY_PER_JSON_BYTE


class DocumentCache:
    """A least-recently-used map of product id to document, within a bound in bytes.

    Args:
        max_bytes: The bound; 0 turns the cache off.
        metrics: Where its size is reported; none in unit tests that do not look.
    """

    def __init__(self, max_bytes: int, metrics: MaterializerMetrics | None = None) -> None:
        self._max_bytes = max_bytes
        self._documents: OrderedDict[str, tuple[dict[str, Any], int]] = OrderedDict()
        self._bytes = 0
        self._gauges: tuple[Gauge, Gauge] | None = (
            (metrics.cache_bytes, metrics.cache_documents) if metrics else None
        )

    def __len__(self) -> int:
        return len(self._documents)

    @property
    def size_bytes(self) -> int:
        """The bytes of the documents held, as the bound counts them."""
        return self._bytes

    def get(self, product_id: str) -> dict[str, Any] | None:
        """The cached document, or ``None`` when it is not cached."""
        entry = self._documents.get(product_id)
        if entry is None:
            return None
        self._documents.move_to_end(product_id)
        return entry[0]

    def put(self, product_id: str, doc: dict[str, Any]) -> None:
        """Remember a document as stored; the fold never mutates what it is given.

        A document larger than the whole bound is not kept (and an older one of the
        product is dropped): it would evict everything else for one product.
        """
        if self._max_bytes <= 0:
            return
        self._drop(product_id)
        size = encoded_size(doc)
        if size <= self._max_bytes:
            self._documents[product_id] = (doc, size)
            self._bytes += size
            while self._bytes > self._max_bytes:
                _, (_, evicted) = self._documents.popitem(last=False)
                self._bytes -= evicted
        self._report()

    def forget(self, product_ids: Iterable[str]) -> None:
        """Drop documents that may be stale."""
        for product_id in product_ids:
            self._drop(product_id)
        self._report()

    def clear(self) -> None:
        """Drop every document (another generation's collections are written now)."""
        self._documents.clear()
        self._bytes = 0
        self._report()

    def _drop(self, product_id: str) -> None:
        entry = self._documents.pop(product_id, None)
        if entry is not None:
            self._bytes -= entry[1]

    def _report(self) -> None:
        if self._gauges is not None:
            self._gauges[0].set(self._bytes)
            self._gauges[1].set(len(self._documents))
