"""The GraphQL schema: thin resolvers over the materialized documents."""

from __future__ import annotations

import strawberry

from gateway.context import Info
from gateway.types import Product, product_from_document

MAX_IDS_PER_QUERY = 100


async def resolve_product(info: Info, id: strawberry.ID) -> Product | None:
    doc = await info.context.products.load(str(id))
    return product_from_document(doc, info.context.segment) if doc else None


async def resolve_products(info: Info, ids: list[strawberry.ID]) -> list[Product | None]:
    if len(ids) > MAX_IDS_PER_QUERY:
        raise ValueError(f"at most {MAX_IDS_PER_QUERY} ids per query")
    docs = await info.context.products.load_many([str(i) for i in ids])
    return [product_from_document(d, info.context.segment) if d else None for d in docs]


@strawberry.type
class Query:
    product: Product | None = strawberry.field(
        resolver=resolve_product,
        description="One product; null when unknown, deleted or not cataloged.",
    )
    products: list[Product | None] = strawberry.field(
        resolver=resolve_products,
        description="Products in the order of `ids`, null where missing; "
        f"at most {MAX_IDS_PER_QUERY} ids.",
    )


def build_schema() -> strawberry.Schema:
    """The gateway's schema."""
    return strawberry.Schema(query=Query)
