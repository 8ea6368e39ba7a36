"""Example BFF extension: ``Product.similarProducts(first)``, same-category products.

A resolver-only field: it adds no source and stores nothing. The category's product ids
come from its own per-request DataLoader (one index query per category and request,
however many products on the page ask); the products themselves come through the core
loader, so they share the request's batched ``$in`` read with every other lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import strawberry
from pymongo.asynchronous.database import AsyncDatabase
from strawberry.dataloader import DataLoader

from shopwindow.cost_directives import list_size
from shopwindow.document import COLLECTION
from shopwindow.extensions import Extension
from shopwindow.gateway.errors import UserInputError
from shopwindow.gateway.execution.context import Info
from shopwindow.gateway.schema.product import product_of
from shopwindow.materializer.sources import catalog
from shopwindow.mongo import MongoDocument
from shopwindow.product_type import Product

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


async def resolve_similar_products(root: Product, info: Info, first: int = 4) -> list[Product]:
    if not 0 <= first <= MAX_SIMILAR:
        raise UserInputError(f"'first' must be between 0 and {MAX_SIMILAR}.")
    category = (root.sale_product.get(catalog.SOURCE) or _NO_CATALOG).category
    if not category:
        return []
    ids = await info.context.loaders["similar_ids"].load((category, first + 1))
    others = [other for other in ids if other != root.sale_product.id][:first]
    docs = await info.context.products.load_many(others)
    return [product_of(d, info.context) for d in docs if d is not None]


_NO_CATALOG = catalog.Catalog("", "", None, None, (), ())


@strawberry.type
class SimilarProductFields:
    similar_products: list[Product] = strawberry.field(
        resolver=resolve_similar_products,
        description="Other products of the same category (example extension).",
        # Declared, so the cost estimate (and a router) count `first` products.
        directives=[list_size(slicing=["first"])],
    )


extension = Extension(
    name="similar-products",
    fields={Product: SimilarProductFields},
    loaders={"similar_ids": similar_ids_loader},
)
