"""Reading materialized documents: every lookup of a request through one DataLoader."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import bson
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError
from strawberry.dataloader import DataLoader

from shopwindow.document import META, NewerSchemaVersion
from shopwindow.gateway.errors import DependencyUnavailable, UserInputError
from shopwindow.gateway.metrics import GatewayMetrics
from shopwindow.gateway.reads.consistency import ReadOptions
from shopwindow.gateway.reads.document_cache import DocumentCache
from shopwindow.mongo import CODEC_OPTIONS, MongoDocument
from shopwindow.sale_product import SaleProduct, read_sale_product

# The fold's bookkeeping can be large and is never served.
_PUBLIC_FIELDS = {META: 0}
_CURSOR_PREFIX = "sw1:"


class ProductDocuments:
    """Reads visible SaleProduct documents: from the document cache while the changelog
    reader is current, else (and for misses) from MongoDB in one ``$in`` query.

    Args:
        collection: The ``sale_products`` collection.
        metrics: Records DataLoader batch sizes and the cache's answers.
    """

    def __init__(self, collection: AsyncCollection[MongoDocument], metrics: GatewayMetrics) -> None:
        self._collection = collection
        self._batch_size = metrics.loader_batch_size.labels("products")
        self._lookups = metrics.cache_lookups
        self._hit = metrics.cache_lookups.labels("hit")
        self._cache: DocumentCache | None = None
        self._cache_is_current: Callable[[], bool] = lambda: False

    def use_collection(self, collection: AsyncCollection[MongoDocument]) -> None:
        """Read ``collection`` from now on (the serving pointer moved)."""
        self._collection = collection

    def use_cache(self, cache: DocumentCache, is_current: Callable[[], bool]) -> None:
        """Answer from ``cache`` whenever ``is_current()`` says its feed is current."""
        self._cache = cache if cache.enabled else None
        self._cache_is_current = is_current

    async def by_ids(
        self, ids: Sequence[str], *, fresh: bool = False
    ) -> list[SaleProduct | None | NewerSchemaVersion]:
        """The documents in the order of ``ids``; ``None`` for unknown or hidden ones.

        A document of a newer contract is an error for its id alone.

        Args:
            ids: Product ids.
            fresh: Read MongoDB even for cached products (what is read is still kept).
        """
        # Ids reach here as GraphQL ID values, i.e. strings; str() keeps it so, and a
        # string in $in is only ever compared, never read as an operator.
        keys = [str(product_id) for product_id in ids]
        found: dict[str, SaleProduct | None | NewerSchemaVersion] = {}
        cache = self._cache
        epoch = cache.epoch if cache is not None else 0
        if cache is not None and not fresh and self._cache_is_current():
            for key in keys:
                hit, cached = cache.lookup(key)
                if hit:
                    found[key] = cached
            self._lookups.labels("hit").inc(len(found))
            self._lookups.labels("miss").inc(len(keys) - len(found))
        elif cache is not None and not fresh:
            # Behind or cut off, the reader may not have applied what MongoDB holds;
            # what is read now is as new as anything, and versions decide what is kept.
            self._lookups.labels("bypass").inc(len(keys))
        missing = [key for key in dict.fromkeys(keys) if key not in found]
        if missing:
            self._batch_size.observe(len(missing))
            cursor = self._collection.find(
                {"_id": {"$in": missing}, "visible": True}, _PUBLIC_FIELDS
            )
            async with unavailable_on_database_error():
                async for doc in cursor:
                    product = _read(doc)
                    found[doc["_id"]] = product
                    if cache is not None and isinstance(product, SaleProduct):
                        size = len(bson.encode(doc, codec_options=CODEC_OPTIONS))
                        cache.put(product, size, read_in=epoch)
        return [found.get(key) for key in keys]

    def loader(self, reads: ReadOptions | None = None) -> ProductLoader:
        """A fresh per-request loader over ``by_ids``.

        Args:
            reads: The operation's read options; fresh reads skip the cache.
        """
        return ProductLoader(self, reads or ReadOptions())

    def cache_usable(self) -> bool:
        """Whether the document cache may answer now (on, and its feed current)."""
        return self._cache is not None and self._cache_is_current()

    def cached(self, product_id: str) -> tuple[bool, SaleProduct | None]:
        """The document cache's answer for one product: ``(False, None)`` on a miss. Only
        while ``cache_usable()``. A hit is counted; a miss is not, since the product goes
        on to ``by_ids``, which looks again (it may have arrived since) and counts that."""
        assert self._cache is not None
        hit, cached = self._cache.lookup(product_id)
        if hit:
            self._hit.inc()
        return hit, cached

    async def category_page(
        self, category: str, after_id: str | None, first: int
    ) -> list[SaleProduct]:
        """Up to ``first + 1`` visible products of a category after ``after_id``, in id
        order, by the ``visible_by_category`` index."""
        query: dict[str, Any] = {"catalog.category": str(category), "visible": True}
        if after_id is not None:
            query["_id"] = {"$gt": str(after_id)}
        cursor = self._collection.find(query, _PUBLIC_FIELDS).sort("_id", 1).limit(first + 1)
        async with unavailable_on_database_error():
            return [read_sale_product(doc) async for doc in cursor]

    async def listing_sku(self, sku: str) -> list[SaleProduct]:
        """Up to two visible products whose catalog lists ``sku``, by the
        ``visible_by_sku`` index: one is the answer, two a conflict."""
        cursor = self._collection.find(
            {"catalog.variants.sku": str(sku), "visible": True}, _PUBLIC_FIELDS
        ).limit(2)
        async with unavailable_on_database_error():
            return [read_sale_product(doc) async for doc in cursor]


class ProductLoader(DataLoader[str, SaleProduct | None]):
    """One request's loader of products: each product read once per request, and what
    it read recorded (``ReadOptions.versions``).

    A product the document cache holds is answered at once, without a batch: a batch
    costs a task, futures and a callback, and for cache hits it batches nothing (on a
    product page without the response cache, 12 % of the request's time). Misses, and
    every read while the cache may not answer, go through the batch and ``by_ids``.
    Whether the cache may answer is decided once per request, at its first lookup, as
    a batch decides it once for all its ids.

    Args:
        documents: Where products are read.
        options: The operation's read options; fresh reads skip the cache.
    """

    def __init__(self, documents: ProductDocuments, options: ReadOptions) -> None:
        super().__init__(load_fn=self._load_batch)
        self._documents = documents
        self._options = options
        self._cache_usable: bool | None = None

    def load(self, key: str) -> Awaitable[SaleProduct | None]:
        """The product ``key`` (``None`` if unknown or hidden), read once per request."""
        if not self._options.fresh and self.cache_map.get(key) is None:
            if self._cache_usable is None:
                self._cache_usable = self._documents.cache_usable()
            if self._cache_usable:
                hit, product = self._documents.cached(key)
                if hit:
                    answered: asyncio.Future[SaleProduct | None] = self.loop.create_future()
                    answered.set_result(product)
                    self.cache_map.set(key, answered)
                    self._options.versions[key] = product.version if product else None
                    return answered
        return super().load(key)

    async def _load_batch(
        self, ids: Sequence[str]
    ) -> list[SaleProduct | None | NewerSchemaVersion]:
        found = await self._documents.by_ids(ids, fresh=self._options.fresh)
        for product_id, product in zip(ids, found, strict=True):
            self._options.versions[str(product_id)] = (
                product.version if isinstance(product, SaleProduct) else None
            )
        return found


@contextlib.asynccontextmanager
async def unavailable_on_database_error() -> AsyncIterator[None]:
    """Turn MongoDB not answering (down, timed out, half-open) into the client's
    retriable ``UNAVAILABLE``, instead of a masked internal error."""
    try:
        yield
    except PyMongoError as error:
        raise DependencyUnavailable(f"MongoDB did not answer: {type(error).__name__}") from error


def _read(doc: MongoDocument) -> SaleProduct | NewerSchemaVersion:
    try:
        return read_sale_product(doc)
    except NewerSchemaVersion as error:
        return error


@dataclass
class CategoryPages:
    """Pages of a category for one request; every document read primes the loader."""

    documents: ProductDocuments
    products: DataLoader[str, SaleProduct | None]

    async def page(
        self, category: str, after: str | None, first: int
    ) -> tuple[list[SaleProduct], bool]:
        """The documents of one page and whether more follow."""
        after_id = decode_cursor(after) if after is not None else None
        docs = await self.documents.category_page(category, after_id, first)
        for doc in docs:
            self.products.prime(doc.id, doc)
        return docs[:first], len(docs) > first


@dataclass
class SkuLookups:
    """Products by a SKU they list, for one request; every document read primes the
    loader."""

    documents: ProductDocuments
    products: DataLoader[str, SaleProduct | None]

    async def listing(self, sku: str) -> list[SaleProduct]:
        """The visible products whose catalog lists ``sku`` (at most two)."""
        docs = await self.documents.listing_sku(sku)
        for doc in docs:
            self.products.prime(doc.id, doc)
        return docs


def encode_cursor(product_id: str) -> str:
    """An opaque cursor for a position after ``product_id``."""
    return base64.urlsafe_b64encode((_CURSOR_PREFIX + product_id).encode()).decode()


def decode_cursor(cursor: str) -> str:
    """The product id in a cursor.

    Raises:
        UserInputError: When the cursor was not made by ``encode_cursor``.
    """
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise UserInputError("Invalid cursor.") from None
    if not text.startswith(_CURSOR_PREFIX) or len(text) == len(_CURSOR_PREFIX):
        raise UserInputError("Invalid cursor.")
    return text[len(_CURSOR_PREFIX) :]
