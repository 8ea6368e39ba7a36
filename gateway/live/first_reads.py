"""Reading the current documents of new live subscriptions, in batches.

Thousands of subscriptions may start at once (a list page, a reconnecting fleet): their
products are queued, and one task reads them through ``ProductDocuments.by_ids`` (so
through the document cache) in batches of up to ``READ_BATCH`` ids, handing each
document on as it arrives. Whatever queues up while a batch is read goes in the next.
A failed read is retried after a pause; nobody is dropped.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from shopwindow.document import NewerSchemaVersion
from shopwindow.sale_product import SaleProduct

log = logging.getLogger(__name__)

READ_BATCH = 500
RETRY_S = 0.5


class Documents(Protocol):
    async def by_ids(
        self, ids: Sequence[str], *, fresh: bool = False
    ) -> list[SaleProduct | None | NewerSchemaVersion]: ...


class CurrentReads:
    """Batched reads of current documents.

    Args:
        documents: Reads documents by id.
        deliver: Called with each product id and its document (``None``: not served).
    """

    def __init__(
        self, documents: Documents, deliver: Callable[[str, SaleProduct | None], None]
    ) -> None:
        self._documents = documents
        self._deliver = deliver
        self._queued: dict[str, None] = {}
        self._wake = asyncio.Event()

    def want(self, product_ids: Sequence[str]) -> None:
        """Read these products in the next batch."""
        self._queued.update(dict.fromkeys(product_ids))
        self._wake.set()

    async def read_queued(self) -> None:
        """Read one batch of what is queued, waiting until something is."""
        if not self._queued:
            self._wake.clear()
            await self._wake.wait()
            return
        ids = list(itertools.islice(self._queued, READ_BATCH))
        for product_id in ids:
            del self._queued[product_id]
        try:
            docs = await self._documents.by_ids(ids)
        except Exception:
            log.warning("reading current documents failed; retrying", exc_info=True)
            self._queued.update(dict.fromkeys(ids))
            await asyncio.sleep(RETRY_S)
            return
        for product_id, doc in zip(ids, docs, strict=True):
            if isinstance(doc, NewerSchemaVersion):
                log.warning("newer document contract", extra={"key": product_id})
                doc = None
            self._deliver(product_id, doc)
