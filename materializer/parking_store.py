"""The open dead letters of parked keys, in MongoDB (``shopwindow_parked``).

One document per parked key: ``{_id, topic, partition, product_id, open: [positions]}``;
a key with no open letter has no document. Shared by every member of the group, so a
partition that moves to another member stays parked, and written before the batch's
offsets are committed, so a crash never forgets a letter.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from pymongo import DeleteMany, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from shopwindow.materializer.errors import TransientError
from shopwindow.materializer.parking import ParkKey, identity_of
from shopwindow.mongo import DURABLE, MongoDocument

PARKED_COLLECTION = "shopwindow_parked"


def _id(key: ParkKey) -> str:
    # Unambiguous: Kafka topic names hold [a-zA-Z0-9._-] only, and the product id,
    # which may hold anything, comes last.
    return f"{key.topic}|{key.partition}|{key.product_id}"


class ParkingStore:
    """The parked keys of one database.

    Args:
        database: The shopwindow database.
    """

    def __init__(self, database: AsyncDatabase[MongoDocument]) -> None:
        self._collection = database.with_options(write_concern=DURABLE).get_collection(
            PARKED_COLLECTION
        )

    async def load(self, keys: Iterable[ParkKey]) -> dict[ParkKey, set[str]]:
        """The open letters of those of ``keys`` that are parked.

        Raises:
            TransientError: When MongoDB cannot be reached.
        """
        by_id = {_id(key): key for key in keys}
        if not by_id:
            return {}
        try:
            cursor = self._collection.find({"_id": {"$in": list(by_id)}})
            return {by_id[doc["_id"]]: set(doc.get("open") or ()) async for doc in cursor}
        except PyMongoError as error:
            raise TransientError("mongodb", f"parked keys: {error}") from error

    async def update(
        self,
        opened: Mapping[ParkKey, Collection[str]],
        closed: Mapping[ParkKey, Collection[str]],
    ) -> None:
        """Add and take off open letters; a key left with none is no longer parked.

        Raises:
            TransientError: When MongoDB cannot be reached.
        """
        writes: list[UpdateOne | DeleteMany] = [
            UpdateOne({"_id": _id(key)}, {"$pull": {"open": {"$in": sorted(letters)}}})
            for key, letters in closed.items()
            if letters
        ]
        writes += [
            UpdateOne(
                {"_id": _id(key)},
                {
                    "$addToSet": {"open": {"$each": sorted(letters)}},
                    "$setOnInsert": {
                        "topic": key.topic,
                        "partition": key.partition,
                        "product_id": key.product_id,
                    },
                },
                upsert=True,
            )
            for key, letters in opened.items()
            if letters
        ]
        if not writes:
            return
        touched = [_id(key) for key in {*opened, *closed}]
        writes.append(DeleteMany({"_id": {"$in": touched}, "open": {"$size": 0}}))
        try:
            await self._collection.bulk_write(writes, ordered=True)
        except PyMongoError as error:
            raise TransientError("mongodb", f"parked keys: {error}") from error

    async def discard(self, topic: str, identities: Collection[str]) -> None:
        """Take discarded letters of ``topic`` (named by ``identity_of``) off whatever
        keys they park.

        Raises:
            PyMongoError: When MongoDB cannot be reached.
        """
        gone = set(identities)
        if not gone:
            return
        # Parked keys are few (each is an incident), so they are read and rewritten.
        async for doc in self._collection.find({"topic": topic}):
            kept = [entry for entry in doc.get("open") or () if identity_of(entry) not in gone]
            if len(kept) == len(doc.get("open") or ()):
                continue
            if kept:
                await self._collection.update_one({"_id": doc["_id"]}, {"$set": {"open": kept}})
            else:
                await self._collection.delete_one({"_id": doc["_id"]})

    async def parked(self) -> list[MongoDocument]:
        """Every parked key, for ``shopwindow dlq list``."""
        return [doc async for doc in self._collection.find({}).sort("_id", 1)]
