"""Example BFF extension: ``similarProducts(id, first)``, same-category products."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import strawberry
from pymongo.asynchronous.database import AsyncDatabase
from strawberry.dataloader import DataLoader

from shopwindow.document import COLLECTION
from shopwindow.gateway.context import Info
from shopwindow.gateway.errors import UserInputError
from shopwindow.gateway.extensions import GatewayExtension
from shopwindow.gateway.types import Product, product_from_document
from shopwindow.mongo import MongoDocument

MAX_SIMILAR = 20

CategoryKey = tuple[str, int]


def similar_ids_loader(
    database: AsyncDatabase[MongoDocument],
) -> Callable[[], DataLoader[CategoryKey, list[str]]]:
    """Per-request loader: ``(category, limit)`` -> ids of visible products in it."""
    collection = database[COLLECTION]

    async def load(keys: Sequence[CategoryKey]) -> list[list[str]]:
        results = []
        for category, limit in keys:
            cursor = (
                collection.find({"catalog.category": category, "visible": True}, {"_id": 1})
                .sort("_id", 1)
                .limit(limit)
            )
            results.append([doc["_id"] async for doc in cursor])
        return results

    return lambda: DataLoader(load_fn=load)


async def resolve_similar_products(info: Info, id: strawberry.ID, first: int = 4) -> list[Product]:
    if not 0 <= first <= MAX_SIMILAR:
        raise UserInputError(f"'first' must be between 0 and {MAX_SIMILAR}.")
    doc = await info.context.products.load(str(id))
    if doc is None or not doc["catalog"].get("category"):
        return []
    ids = await info.context.loaders["similar_ids"].load((doc["catalog"]["category"], first + 1))
    others = [other for other in ids if other != doc["_id"]][:first]
    docs = await info.context.products.load_many(others)
    return [product_from_document(d, info.context.segment) for d in docs if d is not None]


@strawberry.type
class SimilarQuery:
    similar_products: list[Product] = strawberry.field(
        resolver=resolve_similar_products,
        description="Other products of the same category (example extension).",
    )


extension = GatewayExtension(
    name="similar-products",
    query=SimilarQuery,
    loaders={"similar_ids": similar_ids_loader},
)
