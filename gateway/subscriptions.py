"""Live price and stock: GraphQL subscriptions fed by the changelog hub."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Hashable, Sequence
from typing import Any

import strawberry

from shopwindow.gateway.context import GatewayContext, Info
from shopwindow.gateway.errors import UserInputError
from shopwindow.gateway.live import ChangelogHub
from shopwindow.gateway.positions import After, SourcePositionInput, read_after
from shopwindow.gateway.types import Product, product_of
from shopwindow.materializer.sources import inventory, prices
from shopwindow.materializer.sources.inventory import Stock
from shopwindow.materializer.sources.prices import Price, viewer_price
from shopwindow.sale_product import SaleProduct


@strawberry.type(description="A product's stock after a change.")
class StockUpdate:
    product_id: strawberry.ID
    stock: Stock
    version: int


@strawberry.type(description="A product's price, as the viewer pays it, after a change.")
class PriceUpdate:
    product_id: strawberry.ID
    price: Price | None
    version: int


def _stock_value(doc: SaleProduct) -> Hashable:
    stock = doc.get(inventory.SOURCE)
    return (stock.available, stock.status)


def _price_value(segment: str | None) -> Callable[[SaleProduct], Hashable]:
    def value(doc: SaleProduct) -> Hashable:
        price = viewer_price(doc.get(prices.SOURCE), segment)
        if price is None:
            return None
        return (price.amount, price.list_amount, price.currency, price.discount_percent)

    return value


async def _follow(
    info: Info,
    product_ids: Sequence[str],
    value_of: Callable[[SaleProduct], Hashable],
    after: list[SourcePositionInput] | None,
) -> AsyncGenerator[SaleProduct, None]:
    context: GatewayContext = info.context
    limits = context.limits
    connection = context.connection
    if connection is None:
        raise UserInputError("Subscriptions are served over WebSocket.")
    if not product_ids or len(product_ids) > limits.max_products_per_subscription:
        raise UserInputError(
            f"Give between 1 and {limits.max_products_per_subscription} product ids."
        )
    if connection.active_subscriptions >= limits.max_subscriptions_per_connection:
        raise UserInputError(
            f"At most {limits.max_subscriptions_per_connection} subscriptions per connection."
        )
    # A client that just caused a change gets a first value that includes it.
    await read_after(info, after)
    hub: ChangelogHub = context.live
    connection.active_subscriptions += 1
    try:
        ids = [str(i) for i in product_ids]
        async for doc in hub.follow(ids, value_of, fresh=context.reads.fresh):
            context.freshness.saw(doc)
            yield doc
    finally:
        connection.active_subscriptions -= 1


def _stock_update(doc: SaleProduct) -> StockUpdate:
    return StockUpdate(
        product_id=strawberry.ID(doc.id),
        stock=doc.get(inventory.SOURCE),
        version=doc.version,
    )


async def stock_changed(
    info: Info, product_id: strawberry.ID, after: After = None
) -> AsyncGenerator[StockUpdate, None]:
    async for doc in _follow(info, [product_id], _stock_value, after):
        yield _stock_update(doc)


async def stocks_changed(
    info: Info, product_ids: list[strawberry.ID], after: After = None
) -> AsyncGenerator[StockUpdate, None]:
    async for doc in _follow(info, product_ids, _stock_value, after):
        yield _stock_update(doc)


def _price_update(doc: SaleProduct, segment: str | None) -> PriceUpdate:
    return PriceUpdate(
        product_id=strawberry.ID(doc.id),
        price=viewer_price(doc.get(prices.SOURCE), segment),
        version=doc.version,
    )


async def price_changed(
    info: Info, product_id: strawberry.ID, after: After = None
) -> AsyncGenerator[PriceUpdate, None]:
    segment = info.context.segment
    async for doc in _follow(info, [product_id], _price_value(segment), after):
        yield _price_update(doc, segment)


async def prices_changed(
    info: Info, product_ids: list[strawberry.ID], after: After = None
) -> AsyncGenerator[PriceUpdate, None]:
    segment = info.context.segment
    async for doc in _follow(info, product_ids, _price_value(segment), after):
        yield _price_update(doc, segment)


def _version(doc: SaleProduct) -> Any:
    return doc.version


async def product_changed(
    info: Info, id: strawberry.ID, after: After = None
) -> AsyncGenerator[Product, None]:
    async for doc in _follow(info, [id], _version, after):
        yield product_of(doc, info.context)


_EACH = "First the current value, then every change; versions never go backwards."


@strawberry.type
class Subscription:
    stock_changed: AsyncGenerator[StockUpdate, None] = strawberry.subscription(
        resolver=stock_changed, description=f"Stock of one product. {_EACH}"
    )
    stocks_changed: AsyncGenerator[StockUpdate, None] = strawberry.subscription(
        resolver=stocks_changed,
        description=f"Stock of several products (a list page); capped. {_EACH}",
    )
    price_changed: AsyncGenerator[PriceUpdate, None] = strawberry.subscription(
        resolver=price_changed, description=f"Price of one product, as the viewer pays it. {_EACH}"
    )
    prices_changed: AsyncGenerator[PriceUpdate, None] = strawberry.subscription(
        resolver=prices_changed, description=f"Prices of several products; capped. {_EACH}"
    )
    product_changed: AsyncGenerator[Product, None] = strawberry.subscription(
        resolver=product_changed, description=f"The whole product. {_EACH}"
    )
