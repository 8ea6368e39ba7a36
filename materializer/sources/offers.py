"""What each variant of a product offers: its price and its stock, as readers see them.

The catalog lists the variants (``variants``); prices and stock are kept per SKU beside
the product's own (``prices``, ``inventory``). An offer joins the three for one variant:

* **price:** in each market of the viewer's price order (their market, then its
  fallbacks: ``Markets.price_order``), the SKU's own price, else the product's; the
  first found applies, at the viewer's segment price where one is set, as
  ``Product.price`` is. No price in any of them: none (and not available for sale).
  Each of those prices is the scheduled one in effect at the reader's moment
  (``price_schedule.in_effect``), if any, else the slot's own.
* **stock:** the SKU's stock; a listed SKU nothing was counted for has none. The default
  variant's stock is the product's own stock section.
* **available for sale:** it has a price and at least one unit.

``Product.price`` and ``Product.stock`` keep working for products with variants: the
price is the lowest among the variants available for sale (among all priced variants
when none is), and the stock is the sum over the listed variants, with the best status
among them. Entries of SKUs the catalog does not list stay hidden.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from shopwindow.document import StockStatus, escape_key
from shopwindow.materializer.sources import catalog, inventory, price_schedule, prices
from shopwindow.materializer.sources.variants import DEFAULT_VARIANT, Variant
from shopwindow.sale_product import SaleProduct

_STATUS_RANK = {
    StockStatus.OUT_OF_STOCK: 0,
    StockStatus.LOW_STOCK: 1,
    StockStatus.IN_STOCK: 2,
}


@dataclass(frozen=True, slots=True)
class Offer:
    """One variant with its price and stock.

    Attributes:
        variant: The variant as the catalog lists it.
        price: Its stored price (its own, else the product's), or ``None``.
        stock: Its stock.
    """

    variant: Variant
    price: prices.StoredPrice | None
    stock: inventory.Stock

    def viewer_price(self, segment: str | None) -> prices.Price | None:
        """What the viewer pays for this variant."""
        return prices.viewer_price(self.price, segment)

    @property
    def available_for_sale(self) -> bool:
        """Whether it can be bought now: priced and in stock."""
        return self.price is not None and self.stock.available > 0


# The markets whose prices a viewer sees, in order; ``None`` is the default market,
# whose prices are the ones stored without a market.
PriceOrder = tuple[str | None, ...]
DEFAULT_ORDER: PriceOrder = (None,)


def offers(product: SaleProduct, order: PriceOrder, at: datetime) -> tuple[Offer, ...]:
    """Every variant of a product, with its price (the first ``order`` market has, as in
    effect at ``at``) and stock, in the catalog's order; computed once per document,
    order and stretch between price boundaries, however many fields read it."""
    period = price_schedule.period(price_boundaries(product), at)
    return product.derived(_offers_in(order, period))


def price_boundaries(product: SaleProduct) -> tuple[datetime, ...]:
    """Every moment one of the product's scheduled prices begins or ends, in order."""
    return product.derived(_boundaries)


def next_price_change(product: SaleProduct, at: datetime) -> datetime | None:
    """The first moment after ``at`` at which a price of the product may change without
    a new record: until then, what is read of it at ``at`` holds."""
    return price_schedule.next_boundary(price_boundaries(product), at)


def _boundaries(product: SaleProduct) -> tuple[datetime, ...]:
    return price_schedule.boundaries(product.sections.get(prices.SOURCE.entries or ""))


@functools.lru_cache(maxsize=4096)
def _offers_in(order: PriceOrder, period: int) -> Callable[[SaleProduct], tuple[Offer, ...]]:
    # One function per order and stretch between boundaries, so that ``derived`` keeps
    # each apart; the stretch's index stands for every moment of it.
    return functools.partial(_offers, order=order, period=period)


def _offers(product: SaleProduct, order: PriceOrder, period: int) -> tuple[Offer, ...]:
    listing = product.get(catalog.SOURCE)
    variants = listing.variants if listing is not None else (DEFAULT_VARIANT,)
    product_price = product.get(prices.SOURCE)
    product_stock = product.get(inventory.SOURCE)
    entries = product.sections.get(prices.SOURCE.entries or "")
    sku_prices = prices.read_variant_prices(entries)
    market_prices = prices.read_market_prices(entries) if order != DEFAULT_ORDER else {}
    moments = price_boundaries(product)
    # The stretch's first moment stands for all of it (``None``: before any window).
    at = moments[period - 1] if period else None
    schedule = price_schedule.read_schedule(entries) if moments else {}

    def slot(market: str | None, sku: str | None) -> prices.StoredPrice | None:
        scheduled = price_schedule.in_effect(schedule.get((market, sku), ()), at)
        if scheduled is not None:
            return prices.read(scheduled)
        if market is None:
            return product_price if sku is None else sku_prices.get(sku)
        return market_prices.get((market, sku))

    def price_of(sku: str | None) -> prices.StoredPrice | None:
        for market in order:
            found = slot(market, sku) if sku is not None else None
            found = found or slot(market, None)
            if found is not None:
                return found
        return None

    sku_stock: Mapping[str, Any] = product.sections.get(inventory.SOURCE.entries or "") or {}
    return tuple(
        Offer(
            variant=variant,
            price=price_of(variant.sku),
            stock=product_stock if variant.sku is None else _stock_of(sku_stock, variant.sku),
        )
        for variant in variants
    )


def _stock_of(entries: Mapping[str, Any], sku: str) -> inventory.Stock:
    entry = entries.get(escape_key(sku))
    return inventory.read(entry if entry is not None else inventory.initial())


def _for_the_price(product_offers: tuple[Offer, ...]) -> list[Offer]:
    available = [offer for offer in product_offers if offer.available_for_sale]
    return available or [offer for offer in product_offers if offer.price is not None]


def lowest_price(product_offers: tuple[Offer, ...], segment: str | None) -> prices.Price | None:
    """The product's price: the lowest among the variants available for sale, or among
    all priced variants when none is."""
    candidates = [
        price
        for offer in _for_the_price(product_offers)
        if (price := offer.viewer_price(segment)) is not None
    ]
    return min(candidates, key=_amount, default=None)


def lowest_amount(product_offers: tuple[Offer, ...], segment: str | None) -> Decimal | None:
    """The amount of ``lowest_price``, without building the price (search's index)."""
    amounts = [
        _segment_amount(offer.price, segment)
        for offer in _for_the_price(product_offers)
        if offer.price is not None
    ]
    return min(amounts, default=None)


def _segment_amount(price: prices.StoredPrice, segment: str | None) -> Decimal:
    # A segment's price of 0 is a price (free for gold members), not a missing one.
    found = price.segment_amounts.get(segment) if segment else None
    return price.amount if found is None else found


def price_range(
    product_offers: tuple[Offer, ...], segment: str | None
) -> tuple[prices.Price, prices.Price] | None:
    """The lowest and highest viewer price over every priced variant."""
    priced = [p for o in product_offers if (p := o.viewer_price(segment)) is not None]
    if not priced:
        return None
    return min(priced, key=_amount), max(priced, key=_amount)


def total_stock(product_offers: tuple[Offer, ...]) -> inventory.Stock:
    """The product's stock: units summed over its variants, the best status among them,
    and the newest count's time."""
    if len(product_offers) == 1:
        return product_offers[0].stock
    stocks = [offer.stock for offer in product_offers]
    times = [s.updated_at for s in stocks if s.updated_at is not None]
    return inventory.Stock(
        available=sum(s.available for s in stocks),
        status=max((s.status for s in stocks), key=_STATUS_RANK.__getitem__),
        updated_at=max(times, default=None),
    )


def _amount(price: prices.Price) -> Decimal:
    return price.amount
