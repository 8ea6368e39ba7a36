"""Relay connections of products: pages with cursors."""

from __future__ import annotations

import strawberry

from shopwindow.gateway.types import Product


@strawberry.type(description="Where a page of a connection sits.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class ProductEdge:
    cursor: str
    node: Product
