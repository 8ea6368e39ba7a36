"""Live price, stock and product: the subscription fields, declared for the fan-out.

``LIVE_FIELDS`` says, per field, which argument names the products, what a subscriber
sees (changes that leave it equal send nothing), the value its selection executes on,
and whether it completes when the product goes. ``gateway.live.fanout`` serves them.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import strawberry

from shopwindow.cost_directives import MAX_PRODUCTS_PER_SUBSCRIPTION, list_size
from shopwindow.gateway.errors import UserInputError
from shopwindow.gateway.execution.context import GatewayContext, Info
from shopwindow.gateway.schema.positions import After
from shopwindow.gateway.schema.product import product_of
from shopwindow.materializer.sources.inventory import Stock
from shopwindow.materializer.sources.inventory import initial as initial_stock
from shopwindow.materializer.sources.inventory import read as read_stock
from shopwindow.materializer.sources.offers import (
    DEFAULT_ORDER,
    Offer,
    PriceOrder,
    lowest_price,
    offers,
    price_boundaries,
    total_stock,
)
from shopwindow.materializer.sources.price_schedule import period
from shopwindow.materializer.sources.prices import Price
from shopwindow.product_type import Product
from shopwindow.sale_product import SaleProduct


@strawberry.type(description="A product's stock (or one variant's) after a change.")
class StockUpdate:
    product_id: strawberry.ID
    sku: str | None = strawberry.field(description="The variant followed, if one was named.")
    stock: Stock
    version: int


@strawberry.type(
    description="A product's price (or one variant's), as the viewer pays it, after a change."
)
class PriceUpdate:
    product_id: strawberry.ID
    sku: str | None = strawberry.field(description="The variant followed, if one was named.")
    price: Price | None
    version: int


@dataclass(frozen=True, slots=True)
class LiveFieldSpec:
    """A subscription field the live fan-out serves (``gateway.live.fanout``).

    Attributes:
        ids_argument: The argument naming the product(s).
        ends_when_gone: Complete when the product is deleted or hidden; otherwise the
            field sends null, and goes on if the product comes back.
        value_of: What a subscriber sees of a document, for the viewer's segment, the
            variant it follows (``sku``, if any), the markets whose prices apply and
            the moment whose scheduled prices apply; a change that leaves it equal
            sends nothing.
        event: The field's value for a document, as its selection is executed.
    """

    ids_argument: str
    ends_when_gone: bool
    value_of: Callable[[SaleProduct, str | None, str | None, PriceOrder, datetime], Hashable]
    event: Callable[[SaleProduct, GatewayContext, str | None], Any]

    def watch(
        self,
        doc: SaleProduct,
        segment: str | None,
        sku: str | None,
        price_order: PriceOrder,
        at: datetime,
    ) -> Hashable:
        """What a subscriber in ``segment`` following ``sku`` sees of ``doc`` at ``at``."""
        return self.value_of(doc, segment, sku, price_order, at)

    def follows(self, doc: SaleProduct, sku: str | None) -> bool:
        """Whether ``doc`` still has what the subscription follows: the product, and the
        variant ``sku`` if one is named (a variant the catalog drops is gone)."""
        return sku is None or any(offer.variant.sku == sku for offer in _stock_offers(doc))


# A product's price and stock mean what ``Product.price`` and ``Product.stock`` mean:
# over its variants (``offers``).


def _offer_of(doc: SaleProduct, sku: str, order: PriceOrder, at: datetime) -> Offer | None:
    return next((offer for offer in offers(doc, order, at) if offer.variant.sku == sku), None)


def _stock_offers(doc: SaleProduct) -> tuple[Offer, ...]:
    # Stock and the variants listed are the same in every market and at every moment:
    # the default market's offers before any scheduled price read them.
    return offers(doc, DEFAULT_ORDER, datetime.min.replace(tzinfo=UTC))


def _stock_of(doc: SaleProduct, sku: str | None) -> Stock:
    if sku is None:
        return total_stock(_stock_offers(doc))
    offer = next((o for o in _stock_offers(doc) if o.variant.sku == sku), None)
    # Not listed: the group ends (``follows``); a first value sent before shows none.
    return offer.stock if offer is not None else read_stock(initial_stock())


def _price_of(
    doc: SaleProduct, segment: str | None, sku: str | None, order: PriceOrder, at: datetime
) -> Price | None:
    if sku is None:
        return lowest_price(offers(doc, order, at), segment)
    offer = _offer_of(doc, sku, order, at)
    return offer.viewer_price(segment) if offer is not None else None


def _stock_value(
    doc: SaleProduct, segment: str | None, sku: str | None, order: PriceOrder, at: datetime
) -> Hashable:
    stock = _stock_of(doc, sku)
    return (stock.available, stock.status)


def _stock_update(doc: SaleProduct, context: GatewayContext, sku: str | None) -> StockUpdate:
    return StockUpdate(
        product_id=strawberry.ID(doc.id),
        sku=sku,
        stock=_stock_of(doc, sku),
        version=doc.version,
    )


def _price_value(
    doc: SaleProduct, segment: str | None, sku: str | None, order: PriceOrder, at: datetime
) -> Hashable:
    price = _price_of(doc, segment, sku, order, at)
    if price is None:
        return None
    return (
        price.amount,
        price.list_amount,
        price.currency,
        price.discount_percent,
        price.lowest_price_30d,
    )


def _price_update(doc: SaleProduct, context: GatewayContext, sku: str | None) -> PriceUpdate:
    return PriceUpdate(
        product_id=strawberry.ID(doc.id),
        sku=sku,
        price=_price_of(
            doc, context.segment, sku, context.localization.price_order, context.prices_at
        ),
        version=doc.version,
    )


def _version(
    doc: SaleProduct, segment: str | None, sku: str | None, order: PriceOrder, at: datetime
) -> Hashable:
    # A scheduled price beginning or ending changes the product without a new version.
    return doc.version, period(price_boundaries(doc), at)


def _product(doc: SaleProduct, context: GatewayContext, sku: str | None) -> Product:
    return product_of(doc, context)


_STOCK = LiveFieldSpec("productId", True, _stock_value, _stock_update)
_STOCKS = LiveFieldSpec("productIds", True, _stock_value, _stock_update)
_PRICE = LiveFieldSpec("productId", True, _price_value, _price_update)
_PRICES = LiveFieldSpec("productIds", True, _price_value, _price_update)
_PRODUCT = LiveFieldSpec("id", False, _version, _product)

# By GraphQL field name.
LIVE_FIELDS: dict[str, LiveFieldSpec] = {
    "stockChanged": _STOCK,
    "stocksChanged": _STOCKS,
    "priceChanged": _PRICE,
    "pricesChanged": _PRICES,
    "productChanged": _PRODUCT,
}


async def _served_by_the_fanout() -> AsyncGenerator[Any, None]:
    # The WebSocket endpoint hands these fields to the fan-out, and HTTP refuses
    # subscriptions: a resolver that runs was reached some other way.
    raise UserInputError("Subscriptions are served over WebSocket.")
    yield


async def stock_changed(
    info: Info, product_id: strawberry.ID, after: After = None, sku: str | None = None
) -> AsyncGenerator[StockUpdate, None]:
    async for update in _served_by_the_fanout():
        yield update


async def stocks_changed(
    info: Info, product_ids: list[strawberry.ID], after: After = None, sku: str | None = None
) -> AsyncGenerator[StockUpdate, None]:
    async for update in _served_by_the_fanout():
        yield update


async def price_changed(
    info: Info, product_id: strawberry.ID, after: After = None, sku: str | None = None
) -> AsyncGenerator[PriceUpdate, None]:
    async for update in _served_by_the_fanout():
        yield update


async def prices_changed(
    info: Info, product_ids: list[strawberry.ID], after: After = None, sku: str | None = None
) -> AsyncGenerator[PriceUpdate, None]:
    async for update in _served_by_the_fanout():
        yield update


async def product_changed(
    info: Info, id: strawberry.ID, after: After = None
) -> AsyncGenerator[Product | None, None]:
    async for product in _served_by_the_fanout():
        yield product


_EACH = "First the current value, then every change; versions never go backwards."
_PRICED = (
    "First the current value, then every change, a scheduled price beginning or ending "
    "included; versions never go backwards."
)
_ENDS = "Completes when the product is deleted or hidden."
_SKU = (
    "With `sku`, that variant's alone; it completes when the catalog drops the variant, "
    "as when the product goes."
)


@strawberry.type
class Subscription:
    stock_changed: AsyncGenerator[StockUpdate, None] = strawberry.subscription(
        resolver=stock_changed, description=f"Stock of one product. {_EACH} {_ENDS} {_SKU}"
    )
    stocks_changed: AsyncGenerator[StockUpdate, None] = strawberry.subscription(
        resolver=stocks_changed,
        directives=[list_size(assumed=MAX_PRODUCTS_PER_SUBSCRIPTION)],
        description=f"Stock of several products (a list page); capped. {_EACH} A product "
        f"that is deleted or hidden drops out; completes when none is left. {_SKU}",
    )
    price_changed: AsyncGenerator[PriceUpdate, None] = strawberry.subscription(
        resolver=price_changed,
        description=f"Price of one product, as the viewer pays it. {_PRICED} {_ENDS} {_SKU}",
    )
    prices_changed: AsyncGenerator[PriceUpdate, None] = strawberry.subscription(
        resolver=prices_changed,
        directives=[list_size(assumed=MAX_PRODUCTS_PER_SUBSCRIPTION)],
        description=f"Prices of several products; capped. {_PRICED} A product that is "
        f"deleted or hidden drops out; completes when none is left. {_SKU}",
    )
    product_changed: AsyncGenerator[Product | None, None] = strawberry.subscription(
        resolver=product_changed,
        description=f"The whole product; null while it is deleted or hidden. {_PRICED}",
    )
