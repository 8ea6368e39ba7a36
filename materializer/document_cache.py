"""The documents this process wrote last, so hot products are not read back each batch.

Safe with any number of writers: every write is guarded by the revision the fold
started from, so a cached document that another process has since changed makes the
write match nothing, and the batch writer re-reads it from MongoDB.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any


class DocumentCache:
    """A least-recently-used map of product id to document.

    Args:
        max_documents: How many documents to keep; 0 turns the cache off.
    """

    def __init__(self, max_documents: int) -> None:
        self._max_documents = max_documents
        self._documents: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._documents)

    def get(self, product_id: str) -> dict[str, Any] | None:
        """The cached document, or ``None`` when it is not cached."""
        doc = self._documents.get(product_id)
        if doc is not None:
            self._documents.move_to_end(product_id)
        return doc

    def put(self, product_id: str, doc: dict[str, Any]) -> None:
        """Remember a document as stored; the fold never mutates what it is given."""
        if self._max_documents <= 0:
            return
        self._documents[product_id] = doc
        self._documents.move_to_end(product_id)
        while len(self._documents) > self._max_documents:
            self._documents.popitem(last=False)

    def forget(self, product_ids: Iterable[str]) -> None:
        """Drop documents that may be stale."""
        for product_id in product_ids:
            self._documents.pop(product_id, None)

    def clear(self) -> None:
        """Drop every document (another generation's collections are written now)."""
        self._documents.clear()
