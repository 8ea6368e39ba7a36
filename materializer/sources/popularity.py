"""Popularity: how often a product was viewed (clicks) and ordered (orders).

Two topics feed one section. An order counts once for each product it lists; its
order id is its natural id, so an order re-published at a new offset counts once.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from pydantic import Field

from shopwindow.gateway.types import Product
from shopwindow.materializer.envelope import Envelope, validate
from shopwindow.materializer.errors import PoisonEvent
from shopwindow.materializer.events import ProductId, SourceEvent, Text, Timestamp
from shopwindow.materializer.sources.base import Effect, FoldStep, Source, SourceTopic


class OrderPlaced(SourceEvent):
    """An order; counts one order for each listed product."""

    order_id: Annotated[Text, Field(min_length=1, max_length=256)]
    user_id: Text | None = None
    product_ids: Annotated[list[ProductId], Field(min_length=1, max_length=1000)]
    amount: Decimal | None = None
    timestamp: Timestamp


class ProductViewed(SourceEvent):
    """A click on a product page."""

    user_id: Text | None = None
    product_id: ProductId
    timestamp: Timestamp


def _upsert(model: type[OrderPlaced] | type[ProductViewed], kind: str) -> Any:
    def decode(envelope: Envelope) -> OrderPlaced | ProductViewed:
        if envelope.is_delete or envelope.data is None:
            raise PoisonEvent(f"a delete means nothing on a {kind} topic")
        return validate(model, envelope.data)

    return decode


def fold(step: FoldStep, event: Any) -> Effect:
    """Count a view or an order."""
    step.section["orders" if isinstance(event, OrderPlaced) else "views"] += 1
    return Effect.PUBLIC


@strawberry.type(description="How often the product was viewed and ordered.")
class Popularity:
    views: int
    orders: int


def read(section: Mapping[str, Any]) -> Popularity:
    """The typed popularity section."""
    return Popularity(views=section["views"], orders=section["orders"])


def _popularity(root: Product) -> Popularity:
    return root.sale_product.get(SOURCE)


@strawberry.type
class PopularityFields:
    popularity: Popularity = strawberry.field(resolver=_popularity)


ORDERS = SourceTopic(
    setting="orders",
    default_name="orders",
    description="orders; each counts once per listed product (its order id is its id)",
    shape='key: order id; `{"order_id","user_id","product_ids":[...],"amount","timestamp"}`: '
    "one order per listed product",
    decode=_upsert(OrderPlaced, "orders"),
    product_ids=lambda event: tuple(dict.fromkeys(event.product_ids)),
    event_time=lambda event: event.timestamp,
    natural_id=lambda event: f"order:{event.order_id}",
)

CLICKS = SourceTopic(
    setting="clicks",
    default_name="clicks",
    description="product page views",
    shape='key: user id; `{"user_id","product_id","timestamp"}`: one view',
    decode=_upsert(ProductViewed, "clicks"),
    event_time=lambda event: event.timestamp,
)

SOURCE: Source[Popularity] = Source(
    section="popularity",
    topics=(ORDERS, CLICKS),
    initial=lambda: {"views": 0, "orders": 0},
    fold=fold,
    read=read,
    product_fields=PopularityFields,
)
