"""The public GraphQL types and how a stored document maps onto them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry

from shopwindow.document import StockStatus, discount_percent

# The stored status values are the public enum: one definition for both roles.
strawberry.enum(StockStatus, name="StockStatus", description="Whether a product can be bought now.")


@strawberry.type(description="A product attribute, such as colour or size.")
class Attribute:
    name: str
    value: str


@strawberry.type(description="What the viewer pays; amounts are exact decimal strings.")
class Price:
    amount: Decimal = strawberry.field(description="The price the viewer pays.")
    list_amount: Decimal | None = strawberry.field(
        description="The regular price, when it differs from or frames `amount`."
    )
    currency: str = strawberry.field(description="ISO 4217 code.")
    discount_percent: Decimal | None = strawberry.field(
        description="How far `amount` is below the list price, in percent."
    )


@strawberry.type(description="How many units can be bought.")
class Stock:
    available: int
    status: StockStatus
    updated_at: datetime | None


@strawberry.type(description="The average of the product's current reviews.")
class Rating:
    average: float | None
    count: int


@strawberry.type(description="How often the product was viewed and ordered.")
class Popularity:
    views: int
    orders: int


@strawberry.type(description="A product as the product page shows it.")
class Product:
    id: strawberry.ID
    name: str
    description: str
    brand: str | None
    category: str | None
    images: list[str]
    attributes: list[Attribute]
    price: Price | None
    stock: Stock
    rating: Rating
    popularity: Popularity
    version: int = strawberry.field(description="Increases with every change of the product.")
    updated_at: datetime | None = strawberry.field(
        description="When the newest change the product reflects happened at its source."
    )


def _attribute_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def price_from_document(price: Mapping[str, Any] | None, segment: str | None) -> Price | None:
    """The price the viewer pays: the segment's price when there is one.

    Args:
        price: The stored price.
        segment: The viewer's customer segment, from the token.
    """
    if price is None:
        return None
    amount: Decimal = price["amount"]
    list_amount: Decimal | None = price.get("list_amount")
    discount: Decimal | None = price.get("discount_percent")
    segment_amount = (price.get("segment_amounts") or {}).get(segment) if segment else None
    if segment_amount is not None:
        list_amount, amount = amount, segment_amount
        discount = discount_percent(amount, list_amount)
    return Price(
        amount=amount,
        list_amount=list_amount,
        currency=price["currency"],
        discount_percent=discount,
    )


def stock_from_document(stock: Mapping[str, Any]) -> Stock:
    """The public stock of a stored document."""
    return Stock(
        available=stock["available"],
        status=StockStatus(stock["status"]),
        updated_at=stock.get("updated_at"),
    )


def product_from_document(doc: Mapping[str, Any], segment: str | None = None) -> Product:
    """Map a visible stored document to the public type.

    Args:
        doc: The stored document.
        segment: The viewer's customer segment, if authenticated.
    """
    catalog = doc["catalog"]
    rating = doc["rating"]
    return Product(
        id=strawberry.ID(doc["_id"]),
        name=catalog["name"],
        description=catalog.get("description") or "",
        brand=catalog.get("brand"),
        category=catalog.get("category"),
        images=list(catalog.get("images") or []),
        attributes=[
            Attribute(name=item["name"], value=_attribute_value(item["value"]))
            for item in catalog.get("attributes") or []
        ],
        price=price_from_document(doc.get("price"), segment),
        stock=stock_from_document(doc["stock"]),
        rating=Rating(average=rating.get("average"), count=rating["count"]),
        popularity=Popularity(**doc["popularity"]),
        version=doc["version"],
        updated_at=doc.get("updated_at"),
    )
