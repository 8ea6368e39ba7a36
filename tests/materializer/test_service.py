"""The materializer against real Kafka and MongoDB servers, through real clients."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from pymongo import AsyncMongoClient

from shopwindow.document import COLLECTION
from shopwindow.materializer.runner import ConsumeLoop
from shopwindow.materializer.service import Materializer
from shopwindow.materializer.sources import CORE
from shopwindow.materializer.store import CATEGORY_INDEX
from shopwindow.mongo import MongoDocument
from shopwindow.settings import MaterializerSettings
from shopwindow.topics import TopicNames
from tests import kinds
from tests.conftest import TEST_PARTITIONS
from tests.helpers import Record, consume_all, eventually, running_materializer
from tests.materializer.conftest import (
    World,
    catalog,
    click,
    delta,
    order,
    price,
    review,
    stock_take,
)

Settings = Callable[..., MaterializerSettings]
Mongo = AsyncMongoClient[MongoDocument]


def workload(topics: TopicNames) -> list[Record]:
    """A mixed workload over three products, including one cataloged late."""
    records: list[Record] = [
        (kinds.CATALOG.name_in(topics), "abc", catalog("abc")),
        (kinds.CATALOG.name_in(topics), "def", catalog("def", name="Sandal", category="shoes")),
        (kinds.PRICES.name_in(topics), "abc", price("abc", "19.99", list_amount="24.99")),
        (kinds.INVENTORY.name_in(topics), "abc", stock_take(10, "abc")),
        (kinds.INVENTORY.name_in(topics), "ghi", stock_take(3, "ghi")),
    ]
    records += [
        (kinds.INVENTORY.name_in(topics), "abc", delta(-1, "abc", minutes=n)) for n in range(1, 8)
    ]
    records += [(kinds.CLICKS.name_in(topics), f"u{n}", click("abc", minutes=n)) for n in range(5)]
    records += [(kinds.ORDERS.name_in(topics), "o1", order("o1", "abc", "def", minutes=2))]
    records += [
        (kinds.REVIEWS.name_in(topics), "abc", review("r1", 4)),
        (kinds.REVIEWS.name_in(topics), "abc", review("r2", 2)),
    ]
    records += [(kinds.CATALOG.name_in(topics), "ghi", catalog("ghi", name="Late", minutes=9))]
    return records


EXPECTED: dict[str, dict[str, Any]] = {
    "abc": {
        "visible": True,
        "stock.quantity": 3,
        "popularity.views": 5,
        "popularity.orders": 1,
        "rating.count": 2,
        "price.discount_percent": "20.01",
    },
    "def": {"visible": True, "stock.quantity": 0, "popularity.orders": 1},
    "ghi": {"visible": True, "stock.quantity": 3, "stock.status": "LOW_STOCK"},
}


def flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            out |= flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = str(value) if not isinstance(value, bool | int) else value
    return out


def matches(docs: dict[str, dict[str, Any]]) -> bool:
    for product_id, expected in EXPECTED.items():
        flat = flatten(docs.get(product_id, {}))
        if any(flat.get(path) != value for path, value in expected.items()):
            return False
    return True


async def redelivered(materializer: Materializer) -> float:
    registry = materializer.metrics.registry
    return registry.get_sample_value("shopwindow_events_redelivered_total") or 0.0


def settled(docs: dict[str, dict[str, Any]]) -> bool:
    # Matched, and every keyed entry (reviews) flushed to its collection: a document
    # read between its write and the flush still changes when the flush clears it.
    return matches(docs) and not any(any(doc["_meta"]["pending"].values()) for doc in docs.values())


async def materialized(world: World) -> dict[str, dict[str, Any]]:
    return await eventually(world.documents, settled)


async def test_events_become_documents_with_indexes(world: World) -> None:
    await world.produce(workload(world.topics))
    async with running_materializer(world.settings()):
        docs = await materialized(world)
    assert docs["abc"]["price"]["amount"].__class__.__name__ == "Decimal"
    indexes = await world.mongo[world.database][COLLECTION].index_information()
    assert indexes[CATEGORY_INDEX]["partialFilterExpression"] == {"visible": True}


async def test_a_replay_from_the_beginning_changes_nothing(world: World) -> None:
    await world.produce(workload(world.topics))
    async with running_materializer(world.settings()):
        first = await materialized(world)
    # A new group id starts from the earliest offset: every record arrives again.
    replay = world.settings(materializer_group_id="replay")
    async with running_materializer(replay) as materializer:
        await eventually(
            lambda: redelivered(materializer),
            lambda redelivered: redelivered >= len(workload(world.topics)),
        )
        assert await world.documents() == first


async def test_a_crash_between_write_and_commit_loses_and_doubles_nothing(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await world.produce(workload(world.topics))

    async def die_before_committing(self: ConsumeLoop, batch: object) -> None:
        """Every batch is written and announced, and then the process "dies"."""

    with monkeypatch.context() as patch:
        patch.setattr(ConsumeLoop, "_commit", die_before_committing)
        async with running_materializer(world.settings()):
            await materialized(world)
    # Same group: nothing was committed, so everything is delivered again.
    async with running_materializer(world.settings()) as materializer:
        await eventually(
            lambda: redelivered(materializer),
            lambda redelivered: redelivered >= len(workload(world.topics)),
        )
        docs = await world.documents()
    assert matches(docs)
    assert docs["abc"]["stock"]["quantity"] == 3  # Seven deltas applied once, not twice.


async def test_poison_goes_to_the_dead_letter_topic_and_consumption_goes_on(world: World) -> None:
    topics = world.topics
    await world.produce(
        [
            (kinds.INVENTORY.name_in(topics), "abc", b"{not json"),
            (kinds.INVENTORY.name_in(topics), "abc", stock_take(4)),
        ],
        headers=[("trace", b"t-1")],
    )
    async with running_materializer(world.settings()):
        await eventually(
            world.documents,
            lambda docs: docs.get("abc", {}).get("stock", {}).get("quantity") == 4,
        )
        letters = await consume_all(
            world.stack.kafka_bootstrap_servers, topics.dead_letter, expect_at_least=1
        )
    # At least once: a batch retried after a rebalance may dead-letter its record again,
    # always naming the same source position.
    assert len({dict(x.headers)["dlq.offset"] for x in letters}) == 1
    letter = letters[0]
    headers = dict(letter.headers)
    assert (letter.key, letter.value) == (b"abc", b"{not json")
    assert headers["trace"] == b"t-1"
    assert headers["dlq.reason"].startswith(b"invalid JSON")
    assert (headers["dlq.topic"], headers["dlq.offset"]) == (
        kinds.INVENTORY.name_in(topics).encode(),
        b"0",
    )
    assert int(headers["dlq.partition"]) in range(TEST_PARTITIONS)


async def test_changes_are_published_to_the_changelog_with_their_version(world: World) -> None:
    topics = world.topics
    await world.produce([(kinds.CATALOG.name_in(topics), "abc", catalog())])
    async with running_materializer(world.settings()):
        await eventually(world.documents, lambda d: "abc" in d)
        await world.produce([(kinds.CATALOG.name_in(topics), "abc", None)])
        records = await consume_all(
            world.stack.kafka_bootstrap_servers, topics.changelog, expect_at_least=2
        )
    first, last = records[0], records[-1]
    assert first.key == b"abc"
    published = orjson.loads(first.value)
    assert published["catalog"]["name"] == "Trail shoe"
    assert "_meta" not in published
    assert dict(first.headers)["version"] == b"1"
    assert last.value is None  # Deleted: a tombstone.
    assert dict(last.headers)["version"] == b"2"


async def test_two_processes_share_the_partitions(world: World) -> None:
    topics = world.topics
    products = [f"p{n}" for n in range(30)]
    records: list[Record] = [(kinds.CATALOG.name_in(topics), p, catalog(p)) for p in products]
    records += [
        (kinds.INVENTORY.name_in(topics), p, delta(-1, p, minutes=n))
        for n in range(5)
        for p in products
    ]
    records += [
        (kinds.ORDERS.name_in(topics), f"o{n}", order(f"o{n}", *products[n : n + 3]))
        for n in range(27)
    ]
    all_partitions = {(t, p) for t in CORE.topic_names(topics) for p in range(TEST_PARTITIONS)}
    async with contextlib.AsyncExitStack() as processes:
        members = [
            await processes.enter_async_context(running_materializer(world.settings()))
            for _ in range(2)
        ]

        async def assignments() -> list[set[tuple[str, int]]]:
            return [member.assignment() for member in members]

        shared = await eventually(
            assignments, lambda a: all(a) and a[0] | a[1] == all_partitions and not a[0] & a[1]
        )
        await world.produce(records)
        docs = await eventually(
            world.documents,
            lambda d: (
                len(d) == 30
                and all(x["stock"]["quantity"] == -5 for x in d.values())
                and sum(x["popularity"]["orders"] for x in d.values()) == 81
            ),
        )
        consumed = [
            member.metrics.registry.get_sample_value("shopwindow_batch_records_sum")
            for member in members
        ]
    assert all(consumed), (consumed, shared)
    assert sum(x["version"] for x in docs.values()) == 30 + 150 + 81


async def test_probe_endpoints(world: World) -> None:
    async with running_materializer(world.settings()) as materializer:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{materializer.http_port}") as http:
            assert (await http.get("/healthz")).status_code == 200
            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text
            metrics = (await http.get("/metrics")).text
    for name in (
        "shopwindow_events_consumed",
        "shopwindow_freshness_seconds",
        "shopwindow_consumer_lag",
        "shopwindow_write_seconds",
    ):
        assert name in metrics
