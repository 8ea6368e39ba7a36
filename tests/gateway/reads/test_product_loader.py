"""One request's product loader: the document cache answers at once where it may, a
product is read once per request, and what was read is recorded."""

from __future__ import annotations

import asyncio

import pytest
from pymongo import AsyncMongoClient

from shopwindow.document import COLLECTION
from shopwindow.gateway.metrics import GatewayMetrics
from shopwindow.gateway.reads.consistency import ReadOptions
from shopwindow.gateway.reads.document_cache import DocumentCache
from shopwindow.gateway.reads.loaders import ProductDocuments
from shopwindow.mongo import MongoDocument
from tests.gateway.reads.test_document_cache import doc


class Feed:
    """Whether the changelog reader feeding the cache is current."""

    def __init__(self) -> None:
        self.current = True

    def __call__(self) -> bool:
        return self.current


@pytest.fixture
def documents(
    mongo: AsyncMongoClient[MongoDocument], database_name: str
) -> tuple[ProductDocuments, DocumentCache, Feed]:
    # The collection is empty: whatever a test finds there, it did not find in the cache.
    metrics = GatewayMetrics()
    made = ProductDocuments(mongo[database_name][COLLECTION], metrics)
    cache, feed = DocumentCache(10_000, metrics), Feed()
    made.use_cache(cache, feed)
    return made, cache, feed


async def test_a_cached_product_is_answered_at_once_and_recorded(
    documents: tuple[ProductDocuments, DocumentCache, Feed],
) -> None:
    made, cache, _ = documents
    cache.put(doc("a", 5), 100)
    cache.put(doc("gone", 3), 100)
    cache.gone("gone", 4)
    options = ReadOptions()
    loader = made.loader(options)
    answered = loader.load("a")
    assert isinstance(answered, asyncio.Future) and answered.done()  # No batch, no wait.
    assert (await answered).version == 5
    assert await loader.load("gone") is None
    assert await loader.load("unknown") is None  # A miss: MongoDB, through the batch.
    assert options.versions == {"a": 5, "gone": None, "unknown": None}


async def test_a_product_is_read_once_per_request_whatever_the_cache_learns_meanwhile(
    documents: tuple[ProductDocuments, DocumentCache, Feed],
) -> None:
    made, cache, _ = documents
    cache.put(doc("a", 5), 100)
    options = ReadOptions()
    loader = made.loader(options)
    first = await loader.load("a")
    cache.put(doc("a", 6), 100)  # The changelog moved on during the request.
    assert await loader.load("a") is first
    assert options.versions == {"a": 5}
    assert (await made.loader().load("a")).version == 6  # type: ignore[union-attr]


@pytest.mark.parametrize("why", ["fresh", "reader behind"])
async def test_the_cache_is_not_asked_when_it_may_not_answer(
    documents: tuple[ProductDocuments, DocumentCache, Feed], why: str
) -> None:
    made, cache, feed = documents
    cache.put(doc("a", 5), 100)
    options = ReadOptions(fresh=why == "fresh")
    feed.current = why != "reader behind"
    loader = made.loader(options)
    answered = loader.load("a")
    assert not isinstance(answered, asyncio.Future) or not answered.done()
    assert await answered is None  # From MongoDB, which does not have it.
    assert options.versions == {"a": None}


async def test_each_lookup_is_counted_once(
    mongo: AsyncMongoClient[MongoDocument], database_name: str
) -> None:
    # A miss goes on to the batch, which looks again: counted there, not twice.
    metrics = GatewayMetrics()
    made = ProductDocuments(mongo[database_name][COLLECTION], metrics)
    cache = DocumentCache(10_000, metrics)
    made.use_cache(cache, Feed())
    cache.put(doc("a", 5), 100)
    loader = made.loader()
    assert [await loader.load(key) for key in ("a", "unknown", "a")][1] is None
    counted = {
        result: metrics.registry.get_sample_value(
            "shopwindow_document_cache_lookups_total", {"result": result}
        )
        for result in ("hit", "miss")
    }
    assert counted == {"hit": 1, "miss": 1}
