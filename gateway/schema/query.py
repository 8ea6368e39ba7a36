"""The root query: thin resolvers over the materialized documents."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import strawberry

from shopwindow.cost_directives import MAX_IDS, list_size
from shopwindow.gateway.errors import UserInputError
from shopwindow.gateway.execution.context import Info
from shopwindow.gateway.reads.loaders import encode_cursor
from shopwindow.gateway.schema.connections import PageInfo, ProductEdge
from shopwindow.gateway.schema.positions import After, read_after
from shopwindow.gateway.schema.product import product_of
from shopwindow.gateway.schema.variants import ProductVariant, resolve_variant
from shopwindow.product_type import Product


@strawberry.type(description="A page of products, in a stable order.")
class ProductConnection:
    edges: list[ProductEdge]
    page_info: PageInfo


async def resolve_product(
    info: Info,
    id: strawberry.ID,
    after: After = None,
) -> Product | None:
    await read_after(info, after)
    doc = await info.context.products.load(str(id))
    return product_of(doc, info.context) if doc else None


async def resolve_products(
    info: Info,
    ids: list[strawberry.ID],
    after: After = None,
) -> list[Product | None]:
    cap = info.context.limits.max_ids_per_query
    if len(ids) > cap:
        raise UserInputError(f"At most {cap} ids per query.")
    await read_after(info, after)
    loads = [info.context.products.load(str(i)) for i in ids]
    docs = await asyncio.gather(*loads, return_exceptions=True)
    # A document that cannot be read is an error (and null) for its own item only:
    # graphql-core raises an exception it finds in a list at that item's path.
    items: Any = [
        d if isinstance(d, BaseException) else product_of(d, info.context) if d else None
        for d in docs
    ]
    return cast(list[Product | None], items)


async def resolve_products_by_category(
    info: Info, category: str, first: int = 20, after: str | None = None
) -> ProductConnection:
    cap = info.context.limits.max_page_size
    if not 0 <= first <= cap:
        raise UserInputError(f"'first' must be between 0 and {cap}.")
    docs, more = await info.context.categories.page(category, after, first)
    edges = [
        ProductEdge(cursor=encode_cursor(d.id), node=product_of(d, info.context)) for d in docs
    ]
    return ProductConnection(
        edges=edges,
        page_info=PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None),
    )


@strawberry.type
class Query:
    product: Product | None = strawberry.field(
        resolver=resolve_product,
        description="One product; null when unknown, deleted or not cataloged.",
    )
    products: list[Product | None] = strawberry.field(
        resolver=resolve_products,
        directives=[list_size(assumed=MAX_IDS)],
        description="Products in the order of `ids`, null where missing; the number of ids "
        "is capped (100 by default).",
    )
    variant: ProductVariant | None = strawberry.field(
        resolver=resolve_variant,
        description="The variant a SKU names, for carts and barcode scanners: one indexed "
        "lookup. Null when no visible product lists it; an `AMBIGUOUS_SKU` error (and "
        "null) while two do, so a SKU is never served under two products at once.",
    )
    products_by_category: ProductConnection = strawberry.field(
        resolver=resolve_products_by_category,
        directives=[list_size(slicing=["first"], sized_fields=["edges"])],
        description="Visible products of a category in a stable order (by id). `first` is "
        "capped (100 by default); `after` takes an `endCursor`.",
    )
