"""``SHOPWINDOW_DLQ_PARK_KEYS`` against the broker and MongoDB: a product's events wait
behind its dead letter, in order, until ``shopwindow dlq`` replays or discards it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo import AsyncMongoClient

from shopwindow import dlq
from shopwindow.dead_letters import DeadLetter, Selection
from shopwindow.devstack import DevStack
from shopwindow.document import COLLECTION
from shopwindow.materializer.parking_store import PARKED_COLLECTION
from shopwindow.mongo import MongoDocument
from shopwindow.settings import MaterializerSettings
from shopwindow.topics import TopicNames
from tests import kinds
from tests.helpers import eventually, produce, running_materializer
from tests.materializer.conftest import delta, stock_take


async def test_a_products_events_wait_behind_its_dead_letter_and_replay_in_order(
    stack: DevStack,
    topics: TopicNames,
    materializer_settings: Callable[..., MaterializerSettings],
    mongo: AsyncMongoClient[MongoDocument],
    database_name: str,
) -> None:
    database = mongo[database_name]
    inventory = kinds.INVENTORY.name_in(topics)
    bootstrap = stack.kafka_bootstrap_servers
    sources = {inventory}

    async def available(product_id: str) -> Any:
        doc = await database[COLLECTION].find_one({"_id": product_id})
        return None if doc is None else doc["stock"]["available"]

    async def open_letters() -> list[DeadLetter]:
        return [x for x in await dlq.load_open(bootstrap, topics) if x.key == b"abc"]

    async def resolve(letters: list[DeadLetter], replay: bool) -> None:
        selection = Selection(ids=frozenset(x.id for x in letters))
        async with dlq.parked_keys(settings.mongodb_uri, database_name) as unpark:
            await dlq.resolve(bootstrap, topics, sources, letters, selection, replay, unpark)

    settings = materializer_settings(dlq_park_keys=True)
    async with running_materializer(settings):
        await produce(
            bootstrap,
            [
                (inventory, "abc", stock_take(10)),
                (inventory, "abc", {"product_id": "abc", "quantity_change": "lots"}),  # Bad.
                (inventory, "abc", delta(-1, minutes=1)),
                (inventory, "abc", delta(-2, minutes=2)),
                (inventory, "xyz", stock_take(5, "xyz")),
                (inventory, "xyz", delta(-1, "xyz", minutes=1)),
            ],
        )
        # Another product goes on; this one stops at its hole.
        await eventually(lambda: available("xyz"), lambda n: n == 4)
        letters = await eventually(open_letters, lambda found: len(found) == 3)
        assert await available("abc") == 10
        bad, first, second = letters
        assert "InventoryDelta" in bad.reason or "validation" in bad.reason.lower()
        assert first.reason.startswith("parked:") and second.reason.startswith("parked:")

        # Events that come meanwhile wait too.
        await produce(bootstrap, [(inventory, "abc", delta(-3, minutes=3))])
        letters = await eventually(open_letters, lambda found: len(found) == 4)
        third = letters[-1]
        assert await available("abc") == 10

        # Out of order: the younger letter replayed first waits again, as a new letter.
        await resolve([second], replay=True)
        letters = await eventually(open_letters, lambda found: len(found) == 4)
        assert await available("abc") == 10
        second_again = letters[-1]
        assert second_again.id != second.id and second_again.reason.startswith("parked:")

        # The hole itself is discarded (it cannot be fixed); the key still waits for its
        # oldest parked letter.
        await resolve([bad], replay=False)
        assert await available("abc") == 10

        # Replayed in order, every waiting event applies, and the key is free.
        await resolve([first, third, second_again], replay=True)
        await eventually(lambda: available("abc"), lambda n: n == 10 - 1 - 3 - 2)
        assert await eventually(open_letters, lambda found: found == []) == []
        assert await database[PARKED_COLLECTION].count_documents({}) == 0
        await produce(bootstrap, [(inventory, "abc", delta(-1, minutes=4))])
        await eventually(lambda: available("abc"), lambda n: n == 3)
