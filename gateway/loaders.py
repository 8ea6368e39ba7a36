"""DataLoaders: every product lookup of one request becomes one ``$in`` query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from strawberry.dataloader import DataLoader

from shopwindow.document import META
from shopwindow.mongo import MongoDocument

# The fold's bookkeeping can be large and is never served.
_PUBLIC_FIELDS = {META: 0}


class ProductDocuments:
    """Reads visible SaleProduct documents by id.

    Args:
        collection: The ``sale_products`` collection.
    """

    def __init__(self, collection: AsyncCollection[MongoDocument]) -> None:
        self._collection = collection

    async def by_ids(self, ids: Sequence[str]) -> list[MongoDocument | None]:
        """The documents in the order of ``ids``; ``None`` for unknown or hidden ones."""
        # Ids are plain strings by the schema's type; keeping them so (never a dict)
        # is what stops a value like {"$gt": ""} from becoming a query operator.
        keys = [str(product_id) for product_id in ids]
        cursor = self._collection.find(
            {"_id": {"$in": list(dict.fromkeys(keys))}, "visible": True}, _PUBLIC_FIELDS
        )
        found: dict[str, Any] = {doc["_id"]: doc async for doc in cursor}
        return [found.get(key) for key in keys]

    def loader(self, max_batch_size: int | None = None) -> DataLoader[str, MongoDocument | None]:
        """A fresh per-request loader over ``by_ids``."""
        return DataLoader(load_fn=self.by_ids, max_batch_size=max_batch_size)
