"""A review is identified by its product and its id.

Review systems number reviews per product as often as globally, and a CDC stream of a
reviews table moves a review between products. These tests hold the fold and the store
to that identity: ids shared by products never touch each other's ratings, a move
counts the review exactly once, and no delivery order or crash changes a rating.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from shopwindow.document import COLLECTION
from shopwindow.materializer.batch_writer import BatchWriter
from shopwindow.materializer.decode import decode_record
from shopwindow.materializer.errors import InvariantBroken
from shopwindow.materializer.events import Position, SourcedEvent
from shopwindow.materializer.fold import FoldSettings, fold, new_document
from shopwindow.materializer.metrics import MaterializerMetrics
from shopwindow.materializer.sources import reviews
from shopwindow.materializer.sources.base import entry_id
from shopwindow.materializer.store import SaleProductStore, order_of
from shopwindow.mongo import MongoDocument
from tests import kinds
from tests.helpers import encode
from tests.materializer.conftest import T0, SourcedFactory, review
from tests.materializer.test_fold_properties import Keyed, apply_batch, assert_exact_ratings


def writer(mongo: AsyncMongoClient[MongoDocument], database: str) -> BatchWriter:
    return BatchWriter(SaleProductStore(mongo[database]), FoldSettings(), MaterializerMetrics())


def moved(review_id: str, rating: int, minutes: float, old: str, new: str) -> dict[str, Any]:
    """A Debezium update of a reviews row whose product changed from ``old`` to ``new``."""
    after = review(review_id, rating, minutes, False, new)
    return {"op": "u", "before": {**after, "product_id": old}, "after": after}


async def ratings(
    mongo: AsyncMongoClient[MongoDocument], database: str
) -> dict[str, dict[str, Any]]:
    return {
        doc["_id"]: {k: v for k, v in doc["rating"].items()}
        async for doc in mongo[database][COLLECTION].find()
    }


async def test_products_that_number_reviews_alike_keep_their_own_ratings(
    mongo: AsyncMongoClient[MongoDocument], database_name: str, sourced: SourcedFactory
) -> None:
    # The first sequence of the report: one id, two products, then A's review deleted.
    write = writer(mongo, database_name).write
    await write({"A": [sourced(kinds.REVIEWS, review("r1", 5, 1 * 1440, False, "A"))]})
    await write({"B": [sourced(kinds.REVIEWS, review("r1", 1, 2 * 1440, False, "B"))]})
    await write({"A": [sourced(kinds.REVIEWS, review("r1", 5, 3 * 1440, True, "A"))]})

    assert await ratings(mongo, database_name) == {
        "A": {"average": None, "count": 0, "sum": 0},
        "B": {"average": 1.0, "count": 1, "sum": 1},
    }
    stored = {
        doc["_id"]: (doc["product_id"], doc["entry"], doc["rating"], doc["deleted"])
        async for doc in mongo[database_name][reviews.COLLECTION].find()
    }
    assert stored == {
        entry_id("A", "r1"): ("A", "r1", 5, True),
        entry_id("B", "r1"): ("B", "r1", 1, False),
    }


async def test_a_move_counts_the_review_once_and_a_replay_changes_nothing(
    mongo: AsyncMongoClient[MongoDocument], database_name: str, sourced: SourcedFactory
) -> None:
    write = writer(mongo, database_name).write
    first = sourced(kinds.REVIEWS, review("r1", 4, 0, False, "A"), key="r1", offset=0)
    move = sourced(kinds.REVIEWS, moved("r1", 2, 10, "A", "B"), key="r1", offset=1)
    assert move.topic.product_ids(move.event) == ("B", "A")
    await write({"A": [first]})
    for _ in range(2):  # The second pass is a redelivery after a crash before the commit.
        await write({"A": [first, move], "B": [move]})
        assert await ratings(mongo, database_name) == {
            "A": {"average": None, "count": 0, "sum": 0},
            "B": {"average": 2.0, "count": 1, "sum": 2},
        }


async def test_an_outbox_event_naming_both_products_moves_the_review(
    mongo: AsyncMongoClient[MongoDocument], database_name: str, sourced: SourcedFactory
) -> None:
    write = writer(mongo, database_name).write
    await write({"A": [sourced(kinds.REVIEWS, review("7", 3, 0, False, "A"), offset=0)]})
    event = {**review("7", 3, 5, False, "B"), "previous_product_id": "A"}
    move = sourced(kinds.REVIEWS, event, offset=1, event_id="evt-1")
    await write({"A": [move], "B": [move]})
    assert await ratings(mongo, database_name) == {
        "A": {"average": None, "count": 0, "sum": 0},
        "B": {"average": 3.0, "count": 1, "sum": 3},
    }


async def test_entries_stored_under_the_review_id_alone_move_to_their_identity(
    mongo: AsyncMongoClient[MongoDocument], database_name: str, sourced: SourcedFactory
) -> None:
    # As an older version stored them: _id is the review id, product_id says whose.
    old = mongo[database_name][reviews.COLLECTION]
    key = [T0, 0, 0]
    await old.insert_many(
        [
            {"_id": "r1", "product_id": "A", "rating": 4, "deleted": False, "key": key},
            {"_id": "r.2", "product_id": "B", "rating": 2, "deleted": True, "key": key},
        ]
    )
    for doc in await old.find().to_list(None):
        await old.update_one({"_id": doc["_id"]}, {"$set": {"order": order_of(key)}})
    store = SaleProductStore(mongo[database_name])
    assert await store.migrate_keyed(reviews.COLLECTION) == 2
    assert await store.migrate_keyed(reviews.COLLECTION) == 0  # Idempotent.
    migrated = {doc["_id"]: doc async for doc in old.find()}
    assert set(migrated) == {entry_id("A", "r1"), entry_id("B", "r.2")}
    assert migrated[entry_id("A", "r1")]["entry"] == "r1"
    # The fold finds the migrated entry: an edit replaces it instead of counting twice.
    document = new_document("A", FoldSettings())
    document["rating"] = {"average": 4.0, "count": 1, "sum": 4}
    await mongo[database_name][COLLECTION].insert_one(document)
    edit = sourced(kinds.REVIEWS, review("r1", 2, 5, False, "A"), offset=3)
    await writer(mongo, database_name).write({"A": [edit]})
    assert (await ratings(mongo, database_name))["A"] == {"average": 2.0, "count": 1, "sum": 2}


@pytest.mark.parametrize(
    ("section", "why"),
    [
        ({"count": -1, "sum": -2}, "negative"),
        ({"count": 0, "sum": 4}, "a sum without a count"),
        ({"count": 2, "sum": 11}, "more than five stars each"),
        ({"count": 2, "sum": 1}, "less than one star each"),
    ],
)
def test_an_impossible_rating_is_refused(section: dict[str, int], why: str) -> None:
    with pytest.raises(InvariantBroken, match="impossible"):
        reviews.check(section)


@pytest.mark.parametrize(
    "section", [{"count": 0, "sum": 0}, {"count": 1, "sum": 1}, {"count": 3, "sum": 15}]
)
def test_a_possible_rating_passes(section: dict[str, int]) -> None:
    reviews.check(section)


def test_a_record_that_would_break_the_rating_is_refused_not_stored() -> None:
    # A document damaged by an older version: one review counted, but a sum of 9.
    doc = new_document("A", FoldSettings())
    doc["rating"] = {"average": 9.0, "count": 1, "sum": 9}
    event = _decoded(review("r9", 5, 0, False, "A"), Position("reviews", 0, 0))
    with pytest.raises(InvariantBroken):
        fold(doc, "A", (event,), FoldSettings())


def _decoded(value: dict[str, Any], position: Position) -> SourcedEvent:
    decoded = decode_record(kinds.REVIEWS, None, encode(value))
    return kinds.sourced_event(kinds.REVIEWS, decoded.event, position, decoded.event_id)


def mixed_stream(products: int, records: int, partitions: int, seed: int) -> list[SourcedEvent]:
    """Reviews over ``products`` products with per-product ids (every product has r1 to
    r5), edits, deletes and moves, keyed by review id as a reviews table's CDC is."""
    rng = random.Random(seed)
    ids = [f"p{n}" for n in range(products)]
    offsets: dict[int, int] = defaultdict(int)
    log = []
    for n in range(records):
        review_id = f"r{rng.randint(1, 5)}"
        product = rng.choice(ids)
        if rng.random() < 0.15:
            value = moved(review_id, rng.randint(1, 5), n, rng.choice(ids), product)
        else:
            value = review(review_id, rng.randint(1, 5), n, rng.random() < 0.2, product)
        partition = sum(review_id.encode()) % partitions
        log.append(_decoded(value, Position("reviews", partition, offsets[partition])))
        offsets[partition] += 1
    return log


def test_shared_ids_over_40_products_rate_alike_in_any_interleaving_and_crash() -> None:
    # The second sequence of the report: a clean pass and one of interleaved partitions
    # with crashes (documents written, entries not flushed, nothing committed) agree.
    log = mixed_stream(products=40, records=2000, partitions=4, seed=7)
    clean: dict[str, dict[str, Any]] = {}
    clean_keyed: Keyed = {}
    for start in range(0, len(log), 50):
        apply_batch(clean, clean_keyed, log[start : start + 50])
    assert_exact_ratings(clean, log)

    rng = random.Random(21)
    store: dict[str, dict[str, Any]] = {}
    keyed: Keyed = {}
    queues: dict[int, list[SourcedEvent]] = defaultdict(list)
    for sourced in log:
        queues[sourced.position.partition].append(sourced)
    crashes = 0
    while any(queues.values()):
        batch = []
        for _ in range(rng.randint(1, 30)):
            live = [p for p, queue in queues.items() if queue]
            if not live:
                break
            batch.append(queues[rng.choice(live)].pop(0))
        if crashes < 21 and rng.random() < 0.5:
            apply_batch(store, keyed, batch, flush=False)  # Killed before the commit.
            crashes += 1
        apply_batch(store, keyed, batch)
    assert crashes == 21
    assert {p: d["rating"] for p, d in store.items()} == {p: d["rating"] for p, d in clean.items()}
    assert_exact_ratings(store, log)


def test_a_move_keyed_by_product_still_rates_exactly_in_either_order() -> None:
    # A topic keyed by product puts a move in the new product's partition, apart from
    # the old product's own events: whichever arrives first, the ratings are exact.
    own = _decoded(review("r1", 4, 0, False, "A"), Position("reviews", 0, 0))
    move = _decoded(moved("r1", 2, 1, "A", "B"), Position("reviews", 1, 0))
    for order in ((own, move), (move, own)):
        store: dict[str, dict[str, Any]] = {}
        keyed: Keyed = {}
        for sourced in order:
            apply_batch(store, keyed, [sourced])
        assert_exact_ratings(store, [own, move])
        assert store["A"]["rating"]["count"] == 0 and store["B"]["rating"]["count"] == 1
