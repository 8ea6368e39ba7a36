"""Relay connections of products: pages with cursors."""

from __future__ import annotations

import strawberry
from strawberry.federation.schema_directives import Shareable

from shopwindow.product_type import Product


# Every subgraph with Relay connections has its own PageInfo: shareable, so a BFF
# subgraph's composes with ours.
@strawberry.type(description="Where a page of a connection sits.", directives=[Shareable()])
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class ProductEdge:
    cursor: str
    node: Product
