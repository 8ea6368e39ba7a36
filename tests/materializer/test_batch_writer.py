"""Two writers with their own caches, racing on the same documents, lose nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient

from shopwindow.devstack import DevStack
from shopwindow.materializer.batch_writer import BatchWriter
from shopwindow.materializer.document_cache import DocumentCache
from shopwindow.materializer.fold import FoldSettings
from shopwindow.materializer.metrics import MaterializerMetrics
from shopwindow.materializer.store import SaleProductStore
from shopwindow.mongo import MongoDocument
from tests import kinds
from tests.materializer.conftest import (
    SourcedFactory,
    catalog,
    click,
    delta,
    review,
    stock_take,
)


def writer(mongo: AsyncMongoClient[MongoDocument], database: str) -> BatchWriter:
    store = SaleProductStore(mongo[database])
    return BatchWriter(store, FoldSettings(), MaterializerMetrics(), DocumentCache(1 << 20))


async def test_stale_caches_and_concurrent_writes_lose_no_event(
    stack: DevStack,
    mongo: AsyncMongoClient[MongoDocument],
    database_name: str,
    sourced: SourcedFactory,
) -> None:
    first, second = writer(mongo, database_name), writer(mongo, database_name)
    for round_number in range(10):
        # Each writer owns a partition, as two group members would; both touch "abc".
        await asyncio.gather(
            first.write({"abc": [sourced(kinds.CLICKS, click(), partition=0)]}),
            second.write({"abc": [sourced(kinds.CLICKS, click(), partition=1)]}),
            first.write({"def": [sourced(kinds.INVENTORY, delta(-1, "def"))]})
            if round_number % 2
            else second.write({"def": [sourced(kinds.INVENTORY, delta(-1, "def"))]}),
        )
    store = SaleProductStore(mongo[database_name])
    docs = await store.load(["abc", "def"])
    assert docs["abc"]["popularity"]["views"] == 20
    assert docs["def"]["stock"]["quantity"] == -10


async def test_an_unstorable_event_is_refused_and_never_freezes_its_product(
    stack: DevStack,
    mongo: AsyncMongoClient[MongoDocument],
    database_name: str,
    sourced: SourcedFactory,
) -> None:
    target = writer(mongo, database_name)
    await target.write({"abc": [sourced(kinds.CATALOG, catalog())]})
    huge = sourced(kinds.CATALOG, catalog(description="x" * (17 * 1024 * 1024), minutes=1))
    written = await target.write(
        {"abc": [huge, sourced(kinds.INVENTORY, stock_take(5, minutes=1))]}
    )
    assert list(written.refused) == [(huge.position, "abc")]
    assert "MongoDB stores at most" in written.refused[(huge.position, "abc")]
    assert not written.failed
    later = await target.write({"abc": [sourced(kinds.INVENTORY, delta(-1, minutes=2))]})
    assert not later.refused and not later.failed
    doc = (await SaleProductStore(mongo[database_name]).load(["abc"]))["abc"]
    assert (doc["catalog"]["description"], doc["stock"]["quantity"]) == ("", 4)


async def test_each_written_document_says_when_it_was_materialized(
    stack: DevStack,
    mongo: AsyncMongoClient[MongoDocument],
    database_name: str,
    sourced: SourcedFactory,
) -> None:
    when = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)
    store = SaleProductStore(mongo[database_name])
    stamped = BatchWriter(store, FoldSettings(), MaterializerMetrics(), clock=lambda: when)
    written = await stamped.write({"abc": [sourced(kinds.CATALOG, catalog())]})
    expected = when.replace(microsecond=123000)  # MongoDB keeps milliseconds.
    assert (await store.load(["abc"]))["abc"]["materialized_at"] == expected
    assert (
        b'"materialized_at":"2026-11-23T12:00:00.123000+00:00"' in written.changelog_values["abc"]
    )


class _OtherWriterFirst(SaleProductStore):
    """The real store, but the first write waits for another writer's whole batch: the
    interleaving of a member that lost its partitions (a zombie) and the one that got
    them, both folding the same records."""

    def __init__(self, database: Any, other: Callable[[], Awaitable[object]]) -> None:
        super().__init__(database)
        self._other: Callable[[], Awaitable[object]] | None = other

    async def write(self, plans: Any) -> Any:
        if self._other is not None:
            other, self._other = self._other, None
            await other()
        return await super().write(plans)


async def test_a_writer_that_loses_a_race_sees_the_review_the_winner_stored(
    stack: DevStack,
    mongo: AsyncMongoClient[MongoDocument],
    database_name: str,
    sourced: SourcedFactory,
) -> None:
    written = sourced(kinds.REVIEWS, review("r5", 3, minutes=1), key="r5", offset=0)
    edited = sourced(kinds.REVIEWS, review("r5", 4, minutes=2), key="r5", offset=1)
    winner = writer(mongo, database_name)
    store = _OtherWriterFirst(mongo[database_name], lambda: winner.write({"abc": [written]}))
    loser = BatchWriter(store, FoldSettings(), MaterializerMetrics(), DocumentCache(1 << 20))
    # The loser read the document and the entries before the winner wrote and flushed
    # the review; its write loses the race, and it folds again on what the winner left.
    await loser.write({"abc": [written, edited]})
    docs = await SaleProductStore(mongo[database_name]).load(["abc"])
    assert (docs["abc"]["rating"]["count"], docs["abc"]["rating"]["sum"]) == (1, 4)
