"""Reading and writing SaleProduct documents in MongoDB."""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from bson.errors import InvalidDocument
from pymongo import ASCENDING, InsertOne, ReplaceOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DocumentTooLarge, PyMongoError

from shopwindow.document import META, NewerSchemaVersion, upgrade
from shopwindow.generations import keyed_collection, products_collection
from shopwindow.materializer.errors import TransientError
from shopwindow.materializer.sources.base import entry_id
from shopwindow.materializer.write_plan import InsertPlan, ReplacePlan, WritePlan
from shopwindow.mongo import DURABLE, MongoDocument

_DUPLICATE_KEY = 11000
_RETRYABLE_LABELS = ("RetryableWriteError", "TransientTransactionError")
# Per-document write errors that are the document's own fault: every healthy server
# refuses that document, whatever else it accepts, so its events are dead-lettered.
DOCUMENT_FAULT_CODES = frozenset(
    {
        2,  # BadValue
        52,  # DollarPrefixedFieldName
        56,  # EmptyFieldName
        57,  # DottedFieldName
        10334,  # BSONObjectTooLarge
        17280,  # KeyTooLong
        17419,  # the document an update makes is over 16 MiB
    }
)


class WriteErrorPolicy(enum.Enum):
    """What one entry of a bulk write's ``writeErrors`` asks of the materializer."""

    RETRY_BATCH = "retry the batch"
    """Nothing is wrong with the document: back off, retry uncommitted."""
    RACE = "re-read and re-fold"
    """Another writer stored the product first (a duplicate ``_id`` on insert)."""
    DEAD_LETTER = "dead-letter its events"
    """The document itself cannot be stored."""


def write_error_policy(write_error: Mapping[str, Any]) -> WriteErrorPolicy:
    """The policy of one entry of a bulk write's ``writeErrors``.

    Only the codes that describe the document dead-letter it. Any other error passes by
    itself (a failover, a write conflict, a time limit) or is the database's refusal (a
    validator an operator added, a missing privilege, a full disk, a code this list
    does not know), which would refuse the next document too: either way the batch is
    retried uncommitted, with backoff, until the database accepts it, rather than every
    record being dead-lettered past. The fold's watermarks make the retry safe.

    Args:
        write_error: The entry, with its ``code`` and possibly ``errorLabels``.
    """
    code = write_error.get("code")
    labels = write_error.get("errorLabels") or ()
    if any(label in labels for label in _RETRYABLE_LABELS):
        return WriteErrorPolicy.RETRY_BATCH  # The server's own word overrides the code.
    if code == _DUPLICATE_KEY:
        return WriteErrorPolicy.RACE
    if code in DOCUMENT_FAULT_CODES:
        return WriteErrorPolicy.DEAD_LETTER
    # A failover, a conflict, a time limit, or a refusal of the database's own.
    return WriteErrorPolicy.RETRY_BATCH


# The gateway's productsByCategory walks this index: visible products of a category in
# _id order, which is stable under concurrent writes.
CATEGORY_INDEX = "visible_by_category"
SKU_INDEX = "visible_by_sku"


@dataclass
class WriteOutcome:
    """What a bulk write left to do.

    Attributes:
        retry: Products another writer changed since we read them; re-read and re-fold.
        failed: Products whose write the server refused for good, with the reason.
    """

    retry: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)


def _transient(error: PyMongoError) -> TransientError:
    return TransientError("mongodb", f"{type(error).__name__}: {error}")


class SaleProductStore:
    """The ``sale_products`` collection.

    Args:
        database: The database, from a client built by ``shopwindow.mongo.mongo_client``.
        generation: Whose collections to use (``shopwindow.generations``).
    """

    def __init__(self, database: AsyncDatabase[MongoDocument], generation: int = 0) -> None:
        # A document the changelog announced must survive a failover and a crash.
        self._database = database.with_options(write_concern=DURABLE)
        self.use_generation(generation)

    def use_generation(self, generation: int) -> None:
        """Read and write ``generation``'s collections from now on."""
        self.generation = generation
        self._collection = self._database.get_collection(products_collection(generation))

    async def versions(self, product_ids: Collection[str]) -> dict[str, int]:
        """The stored version of each of these products that has a document.

        Raises:
            TransientError: When MongoDB cannot be reached.
        """
        try:
            cursor = self._collection.find({"_id": {"$in": list(product_ids)}}, {"version": 1})
            return {doc["_id"]: int(doc.get("version", 0)) async for doc in cursor}
        except PyMongoError as error:
            raise _transient(error) from error

    async def ensure_indexes(self) -> None:
        """Create the indexes the gateway needs; a no-op when they exist."""
        try:
            await self._collection.create_index(
                [("catalog.category", ASCENDING), ("_id", ASCENDING)],
                name=CATEGORY_INDEX,
                partialFilterExpression={"visible": True},
            )
            # variant(sku:): carts and barcode scanners look a variant up by its SKU.
            await self._collection.create_index(
                [("catalog.variants.sku", ASCENDING)],
                name=SKU_INDEX,
                partialFilterExpression={"visible": True},
            )
        except PyMongoError as error:
            raise _transient(error) from error

    async def load(self, product_ids: Collection[str]) -> dict[str, MongoDocument]:
        """The stored documents of these products; absent ones are missing from the map.

        Raises:
            TransientError: When MongoDB cannot be reached.
        """
        try:
            cursor = self._collection.find({"_id": {"$in": list(product_ids)}})
            found = [doc async for doc in cursor]
        except PyMongoError as error:
            raise _transient(error) from error
        try:
            return {doc["_id"]: upgrade(doc) for doc in found}
        except NewerSchemaVersion as error:
            # A newer materializer is rolling out: this one backs off without committing
            # and leaves the product to it, rather than rewriting it in an older contract.
            raise TransientError("schema_version", str(error)) from error

    async def load_keyed(
        self, collection: str, entry_ids: Collection[str]
    ) -> dict[str, MongoDocument]:
        """The entries of a keyed state's collection under ``entry_ids``, by id.

        Raises:
            TransientError: When MongoDB cannot be reached.
        """
        try:
            cursor = self._keyed(collection).find({"_id": {"$in": list(entry_ids)}})
            return {doc["_id"]: doc async for doc in cursor}
        except PyMongoError as error:
            raise _transient(error) from error

    async def migrate_keyed(self, collection: str, batch_size: int = 1000) -> int:
        """Move entries stored under their key alone (before entries were identified by
        their product too) to ``entry_id(product, key)``; idempotent, and safe to cut
        short: an entry is removed from its old ``_id`` only once it is at its new one.

        An old entry holds the state of whichever product wrote its key last, so where
        two products used one key, the other product's entry was already lost; such
        documents need a rebuild (``shopwindow rebuild``) to be recounted from the log.

        Returns:
            How many entries were moved.

        Raises:
            TransientError: When MongoDB cannot be reached.
        """
        keyed = self._keyed(collection)
        moved = 0
        try:
            while True:
                old = await keyed.find(
                    {"entry": {"$exists": False}, "product_id": {"$exists": True}}
                ).to_list(batch_size)
                if not old:
                    return moved
                entries = [
                    {
                        **{k: v for k, v in doc.items() if k not in ("_id", "order")},
                        "product_id": doc["product_id"],
                        "id": doc["_id"],
                    }
                    for doc in old
                ]
                await self._upsert_newer(collection, entries)
                await keyed.delete_many(
                    {"_id": {"$in": [doc["_id"] for doc in old]}, "entry": {"$exists": False}}
                )
                moved += len(old)
        except PyMongoError as error:
            raise _transient(error) from error

    async def flush_pending(self, documents: Mapping[str, MongoDocument]) -> bool:
        """Write the pending keyed entries of written documents to their collections, then
        drop them from the documents: one bulk write per collection, one to clear.

        An entry replaces a stored one only if its ordering key (``order``) is greater, so
        a late flush never undoes a newer entry. A document is cleared only if no other
        writer changed it since (same revision); one that was not keeps its entries,
        which its next write flushes again.

        Returns:
            Whether every document was cleared.

        Raises:
            TransientError: When MongoDB is unavailable.
        """
        if not documents:
            return True
        newest: dict[str, dict[str, Mapping[str, Any]]] = {}
        for product_id, doc in documents.items():
            for collection, entries in doc[META]["pending"].items():
                by_id = newest.setdefault(collection, {})
                for entry in entries.values():
                    # The document owns its pending entries, whatever product an entry
                    # written by an older version names.
                    owned = {**entry, "product_id": product_id}
                    known = by_id.get(entry_id(product_id, entry["id"]))
                    if known is None or tuple(known["key"]) < tuple(entry["key"]):
                        by_id[entry_id(product_id, entry["id"])] = owned
        clear = [
            UpdateOne(
                {"_id": product_id, f"{META}.revision": doc[META]["revision"]},
                {"$set": {f"{META}.pending": {}}},
            )
            for product_id, doc in documents.items()
        ]
        try:
            for collection, by_id in newest.items():
                await self._upsert_newer(collection, list(by_id.values()))
            result = await self._collection.bulk_write(clear, ordered=False)
        except PyMongoError as error:
            raise _transient(error) from error
        return result.matched_count == len(clear)

    async def _upsert_newer(self, collection: str, entries: Collection[Mapping[str, Any]]) -> None:
        # Each entry names its product and its key within it (``id``); it is stored
        # under both (``entry_id``), with the key as ``entry``.
        writes = [
            UpdateOne(
                {
                    "_id": entry_id(entry["product_id"], entry["id"]),
                    "order": {"$not": {"$gte": order_of(entry["key"])}},
                },
                {
                    "$set": {
                        **{k: v for k, v in entry.items() if k != "id"},
                        "entry": entry["id"],
                        "order": order_of(entry["key"]),
                    }
                },
                upsert=True,
            )
            for entry in entries
        ]
        try:
            await self._keyed(collection).bulk_write(writes, ordered=False)
        except BulkWriteError as error:
            # A duplicate key means a newer entry is stored: the upsert found no older one
            # to replace and could not insert. Anything else is an outage to retry.
            others = [
                e for e in error.details.get("writeErrors", []) if e.get("code") != _DUPLICATE_KEY
            ]
            if others or error.details.get("writeConcernErrors"):
                raise TransientError("mongodb", f"keyed state write: {others[:1]}") from error

    def _keyed(self, name: str) -> AsyncCollection[MongoDocument]:
        return self._database.get_collection(keyed_collection(name, self.generation))

    async def write(self, plans: Mapping[str, WritePlan]) -> WriteOutcome:
        """Apply the plans in one unordered bulk write.

        A plan that matches nothing lost a race with another writer. The bulk result
        only counts matches, so on a shortfall every updated product is re-folded; the
        fold's watermarks make that a no-op for those that were written.

        Raises:
            TransientError: When MongoDB is unavailable; nothing is known to be written.
        """
        outcome = WriteOutcome()
        if not plans:
            return outcome
        ids = list(plans)
        updates = [pid for pid, plan in plans.items() if not isinstance(plan, InsertPlan)]
        try:
            result = await self._collection.bulk_write(
                [_operation(plan) for plan in plans.values()], ordered=False
            )
            matched = result.matched_count
        except BulkWriteError as error:
            matched = self._sort_write_errors(error.details, ids, outcome)
        except (DocumentTooLarge, InvalidDocument) as error:
            # Refused before it reached the server, without saying which document:
            # write them one by one to single out the culprits.
            if len(plans) > 1:
                return await self._write_one_by_one(plans)
            outcome.failed[ids[0]] = f"{type(error).__name__}: {error}"
            return outcome
        except PyMongoError as error:
            raise _transient(error) from error
        if matched < len(updates):
            outcome.retry.update(pid for pid in updates if pid not in outcome.failed)
        return outcome

    async def _write_one_by_one(self, plans: Mapping[str, WritePlan]) -> WriteOutcome:
        outcome = WriteOutcome()
        for product_id, plan in plans.items():
            single = await self.write({product_id: plan})
            outcome.retry |= single.retry
            outcome.failed |= single.failed
        return outcome

    @staticmethod
    def _sort_write_errors(
        details: Mapping[str, Any], ids: list[str], outcome: WriteOutcome
    ) -> int:
        write_errors = details.get("writeErrors", [])
        policies = [write_error_policy(e) for e in write_errors]
        if WriteErrorPolicy.RETRY_BATCH in policies:
            # The database, not these documents: the whole batch is tried again.
            first = write_errors[policies.index(WriteErrorPolicy.RETRY_BATCH)]
            raise TransientError(
                "mongodb", f"write error {first.get('code')}: {first.get('errmsg', '')}"
            )
        for write_error, policy in zip(write_errors, policies, strict=True):
            product_id = ids[write_error["index"]]
            if policy is WriteErrorPolicy.RACE:
                outcome.retry.add(product_id)
            else:
                outcome.failed[product_id] = str(write_error.get("errmsg", "write refused"))
        if details.get("writeConcernErrors"):
            raise TransientError("mongodb", f"write concern: {details['writeConcernErrors']}")
        return int(details.get("nMatched", 0))


def order_of(key: list[Any]) -> str:
    """An ordering key ``[time, partition, offset]`` as text that sorts the same way, so
    MongoDB can compare it in a filter."""
    time, partition, offset = key
    # strftime does not pad years below 1000; the explicit width does.
    return f"{time.year:04d}-{time:%m-%dT%H:%M:%S.%f}|{int(partition):010d}|{int(offset):020d}"


def _operation(plan: WritePlan) -> InsertOne[MongoDocument] | UpdateOne | ReplaceOne[Any]:
    if isinstance(plan, InsertPlan):
        return InsertOne(plan.document)
    if isinstance(plan, ReplacePlan):
        return ReplaceOne(plan.filter, plan.document)
    return UpdateOne(plan.filter, plan.update)
