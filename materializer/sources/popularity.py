"""Popularity: how often a product was viewed (clicks) and ordered (orders), and how
much it is trending.

Two topics feed one section. An order counts once for each product it lists; its
order id is its natural id, so an order re-published at a new offset counts once.
Units sold (what bestselling ranks by) come from the order's ``lines``: a product's
quantities summed, or one unit for a product the order lists without a line.
The trending score decays both by event time (``trending``); documents written before
it existed have no ``recent`` counts and score from their next event on.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from pydantic import Field, StrictInt, model_validator

from shopwindow.materializer.envelope import Envelope, validate
from shopwindow.materializer.errors import PoisonEvent
from shopwindow.materializer.events import (
    MAX_QUANTITY,
    ProductId,
    SourceEvent,
    Text,
    Timestamp,
)
from shopwindow.materializer.sources import trending
from shopwindow.materializer.sources.base import Effect, FoldStep, Source, SourceTopic
from shopwindow.materializer.sources.variants import Sku
from shopwindow.product_type import Product

if TYPE_CHECKING:
    from shopwindow.materializer.fold import FoldSettings


class OrderLine(SourceEvent):
    """How many units of one product (and variant) an order bought."""

    product_id: ProductId
    sku: Sku | None = None
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)]


class OrderPlaced(SourceEvent):
    """An order; counts one order for each listed product, and its units."""

    order_id: Annotated[Text, Field(min_length=1, max_length=256)]
    user_id: Text | None = None
    product_ids: Annotated[list[ProductId], Field(max_length=1000)] = Field(default_factory=list)
    lines: Annotated[list[OrderLine], Field(max_length=1000)] = Field(default_factory=list)
    amount: Decimal | None = None
    timestamp: Timestamp

    @model_validator(mode="after")
    def _lists_a_product(self) -> OrderPlaced:
        if not self.product_ids and not self.lines:
            raise ValueError("an order lists no product: neither product_ids nor lines")
        return self

    def products(self) -> tuple[str, ...]:
        """Every product the order concerns, once each, in the order first named."""
        return tuple(dict.fromkeys([*self.product_ids, *(line.product_id for line in self.lines)]))

    def units_of(self, product_id: str) -> int:
        """Units of ``product_id`` the order bought: its lines' quantities, or 1."""
        units = sum(line.quantity for line in self.lines if line.product_id == product_id)
        return units or 1


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


def initial() -> dict[str, Any]:
    """The popularity of a product nothing is known about yet."""
    return {
        "views": 0,
        "orders": 0,
        "units": 0,
        "recent": trending.empty(),
        "trending_score": 0.0,
    }


def fold(step: FoldStep, event: Any) -> Effect:
    """Count a view or an order, in total and in its time bucket."""
    is_order = isinstance(event, OrderPlaced)
    section = step.section
    section["orders" if is_order else "views"] += 1
    if is_order:
        section["units"] = section.get("units", 0) + event.units_of(step.product_id)
    recent = section.setdefault("recent", trending.empty())
    trending.count(recent, event.timestamp, is_order, step.settings.trending_half_life_s)
    return Effect.PUBLIC


def derive(section: dict[str, Any], settings: FoldSettings) -> None:
    """The trending score, stored so that every reader (and the search index) agrees."""
    section["trending_score"] = trending.score(
        section.get("recent") or {}, settings.trending_half_life_s
    )


@strawberry.type(description="How often the product was viewed and ordered.")
class Popularity:
    views: int
    orders: int
    units_sold: int = strawberry.field(
        description="Units sold: each order's quantities of this product, one unit for an "
        "order that lists it without a line. What `BESTSELLING` ranks by."
    )
    trending_score: float = strawberry.field(
        description="How hot the product is: views and orders (an order weighs 10 views) "
        "decayed by their event time with a half-life (6 h by default), each half-life "
        "newer counting twice. Comparable across products (higher is hotter) and "
        "reproducible on replay; it rises by 1 per half-life of steady traffic. 0 "
        "without activity."
    )


def units_sold(section: Mapping[str, Any]) -> int:
    """Units sold; a section written before units were counted has one per order."""
    units: int = section["orders"] if section.get("units") is None else section["units"]
    return units


def read(section: Mapping[str, Any]) -> Popularity:
    """The typed popularity section."""
    return Popularity(
        views=section["views"],
        orders=section["orders"],
        units_sold=units_sold(section),
        trending_score=float(section.get("trending_score") or 0.0),
    )


def _popularity(root: Product) -> Popularity:
    return root.sale_product.get(SOURCE)


@strawberry.type
class PopularityFields:
    popularity: Popularity = strawberry.field(resolver=_popularity)


ORDERS = SourceTopic(
    setting="orders",
    default_name="orders",
    description="orders; each counts once per listed product (its order id is its id)",
    shape='key: order id; `{"order_id","user_id","product_ids":[...],'
    '"lines":[{"product_id","sku","quantity"}],"amount","timestamp"}`: one order per listed '
    "product, its units from `lines` (one without)",
    decode=_upsert(OrderPlaced, "orders"),
    product_ids=lambda event: event.products(),
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
    initial=initial,
    fold=fold,
    read=read,
    derive=derive,
    product_fields=PopularityFields,
)
