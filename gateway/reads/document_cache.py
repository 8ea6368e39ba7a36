"""Hot products without a database read: a cache of documents fed by the changelog.

The changelog reader (``live.ChangelogHub``) puts every document it reads; a miss is
read from MongoDB through the DataLoader's batched ``$in`` and put as well. Bounded in
bytes (least recently used first out), and a document's version never goes back: an
older copy, from a late read or a redelivered record, never replaces a newer one.

Trust follows the reader. The cache answers only while the reader is current (a fetch
answered within ``CURRENT_WITHIN_MS`` and at most ``CURRENT_LAG_RECORDS`` behind);
otherwise lookups go to MongoDB. The reader empties the cache whenever it starts
reading again from the end, since it will never see what changed meanwhile.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

from shopwindow.gateway.metrics import GatewayMetrics
from shopwindow.sale_product import SaleProduct

# A reader that has heard from the broker this recently, and is this close to the end
# of the changelog, has applied everything but the last moment's changes.
CURRENT_WITHIN_MS = 1000
CURRENT_LAG_RECORDS = 1000


class ReaderState(NamedTuple):
    """The changelog reader as the cache's users see it, read in one pass.

    Attributes:
        current: Whether the cache may answer (see ``CURRENT_WITHIN_MS``).
        lag: Changelog records not read yet; ``None`` while not reading.
    """

    current: bool
    lag: int | None


# What a "gone" entry is counted as: its key and version.
_GONE_BYTES = 64


class DocumentCache:
    """Documents by product id, at most ``max_bytes`` of them.

    Args:
        max_bytes: The bound; 0 turns the cache off.
        metrics: Where hit rate and size are reported.
    """

    def __init__(self, max_bytes: int, metrics: GatewayMetrics) -> None:
        self._max_bytes = max_bytes
        self._metrics = metrics
        # product id -> (document, or None for a product gone at that version; version;
        # size in bytes)
        self._entries: OrderedDict[str, tuple[SaleProduct | None, int, int]] = OrderedDict()
        self._bytes = 0
        self.epoch = 0  # Counts clears: a read begun before one may be stale.

    @property
    def enabled(self) -> bool:
        """Whether the cache keeps anything."""
        return self._max_bytes > 0

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, product_id: str) -> tuple[bool, SaleProduct | None]:
        """``(True, document)`` when cached (``None``: the product is gone), else
        ``(False, None)``."""
        entry = self._entries.get(product_id)
        if entry is None:
            return False, None
        self._entries.move_to_end(product_id)
        return True, entry[0]

    def version_of(self, product_id: str) -> int | None:
        """The version of the product's cached document; ``None`` when it is not cached
        or gone. Not a use: the least recently used order stays."""
        entry = self._entries.get(product_id)
        return entry[1] if entry is not None and entry[0] is not None else None

    def put(self, product: SaleProduct, size_bytes: int, read_in: int | None = None) -> None:
        """Keep ``product`` unless as new a version is cached or it cannot fit at all.

        Args:
            product: The document.
            size_bytes: Its size, as the bound counts it.
            read_in: For a document read from MongoDB, the ``epoch`` when the read began;
                the document is dropped if the cache was cleared since.
        """
        if read_in is not None and read_in != self.epoch:
            return
        self._keep(product.id, product, product.version, size_bytes)

    def gone(self, product_id: str, version: int) -> None:
        """Remember that the product left the page (deleted or hidden) at ``version``, so
        that no older copy read late can bring it back."""
        self._keep(product_id, None, version, _GONE_BYTES)

    def _keep(
        self, product_id: str, product: SaleProduct | None, version: int, size_bytes: int
    ) -> None:
        if not self.enabled or size_bytes > self._max_bytes:
            return
        current = self._entries.get(product_id)
        if current is not None:
            if current[1] >= version:
                return
            self._bytes -= current[2]
        self._entries[product_id] = (product, version, size_bytes)
        self._entries.move_to_end(product_id)
        self._bytes += size_bytes
        while self._bytes > self._max_bytes:
            _, (_, _, evicted) = self._entries.popitem(last=False)
            self._bytes -= evicted
            self._metrics.cache_evictions.inc()
        self._report()

    def forget(self, product_id: str) -> None:
        """Drop what is cached of one product."""
        entry = self._entries.pop(product_id, None)
        if entry is not None:
            self._bytes -= entry[2]
            self._report()

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
        self._bytes = 0
        self.epoch += 1
        self._report()

    def _report(self) -> None:
        self._metrics.cache_bytes.set(self._bytes)
        self._metrics.cache_documents.set(len(self._entries))
