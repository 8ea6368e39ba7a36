"""What the search index keeps of a product: derived from its public document alone."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import NamedTuple

from shopwindow.materializer.sources import catalog, popularity
from shopwindow.materializer.sources.offers import (
    DEFAULT_ORDER,
    Offer,
    PriceOrder,
    lowest_amount,
    offers,
    total_stock,
)
from shopwindow.sale_product import SaleProduct

# A row without translations: every language searches the catalog's own text.
_NO_TEXTS: Mapping[str, tuple[str, str]] = MappingProxyType({})


class VariantRow(NamedTuple):
    """One variant as search sees it.

    Attributes:
        values: Its value of each of the product's options, in the options' order.
        in_stock: Whether a unit of it is available.
        price: What a viewer without a segment price pays; ``None`` without a price.
        segment_prices: What each segment with its own price pays, and each other
            market's public price under ``market_key`` (none: no price there).
    """

    values: tuple[str, ...]
    in_stock: bool
    price: float | None
    segment_prices: Mapping[str, float]

    def viewer_price(self, segment: str | None) -> float | None:
        """What a viewer of ``segment`` (or of another market, ``market_key``) pays."""
        if segment is not None and (own := self.segment_prices.get(segment)) is not None:
            return own
        return None if is_market_key(segment) else self.price


# Another market's prices are searched as a named price list beside the segments':
# ``%M`` and the market id, which no segment name (``[A-Za-z0-9_-]``) can spell.
_MARKET_MARK = "%M"


@dataclass(frozen=True, slots=True)
class Locales:
    """What rows are made for besides the default market and the catalog's own words.

    Attributes:
        price_orders: The price order of every market but the default one, by id
            (``Markets.other_price_orders``): their public prices are indexed too.
        languages: The languages whose names and descriptions get fields of their own
            (``languages.indexed_languages``).
    """

    price_orders: Mapping[str, PriceOrder] = field(default_factory=dict)
    languages: tuple[str, ...] = ()


def market_key(market: str) -> str:
    """The name under which rows carry ``market``'s public prices."""
    return _MARKET_MARK + market


def is_market_key(name: str | None) -> bool:
    """Whether ``name`` names a market's prices rather than a segment's: then a product
    without one has no price there (no fallback to the default market's)."""
    return name is not None and name.startswith(_MARKET_MARK)


def search_prices(segment: str | None, price_order: PriceOrder) -> str | None:
    """The prices a viewer searches by: their market's public prices outside the default
    market (a segment's own prices are the default market's), else their segment's."""
    market = price_order[0]
    return segment if market is None else market_key(market)


class IndexRow(NamedTuple):
    """One product as the index sees it.

    Attributes:
        id: The product id.
        name: Searchable text, weighted highest with ``brand``.
        brand: The brand, searched and faceted.
        category: The category, searched, filtered and faceted.
        description: Searchable text.
        attributes: ``(name, value)`` pairs; values are searched, pairs filtered.
        price: What a viewer without a segment price pays; ``None`` without a price.
        segment_prices: What each segment with its own price pays, and each other
            market's public price under ``market_key`` (none: no price there).
        in_stock: Whether any unit is available.
        listed_s: When the product was created (epoch seconds), for ``NEWEST``.
        units_sold: Units sold, for ``BESTSELLING``.
        trending_score: For ``TRENDING``.
        option_names: The product's options, in display order; empty without options.
        variants: Its variants, when it has options: search filters on them.
        texts: ``(name, description)`` by indexed language, where the catalog
            translates either; the others search the catalog's own text.
    """

    id: str
    name: str
    brand: str | None
    category: str | None
    description: str
    attributes: tuple[tuple[str, str], ...]
    price: float | None
    segment_prices: dict[str, float]
    in_stock: bool
    listed_s: int
    units_sold: int
    trending_score: float
    option_names: tuple[str, ...] = ()
    variants: tuple[VariantRow, ...] = ()
    texts: Mapping[str, tuple[str, str]] = _NO_TEXTS


def money(amount: Decimal) -> float:
    """An amount as the index compares it; beyond a float's range, the nearest end."""
    value = float(amount)
    return value if math.isfinite(value) else math.copysign(1e300, value)


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} is not text")
    return value


def _named(attributes: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    if not all(isinstance(name, str) for name, _ in attributes):
        raise TypeError("an attribute name is not text")
    return attributes


# Rows of the default market alone, in the catalog's own words.
NO_LOCALES = Locales()


def row_of(product: SaleProduct, at: datetime, locales: Locales = NO_LOCALES) -> IndexRow | None:
    """The row of ``product`` at the prices in effect at ``at``, or ``None`` when it is
    not served (hidden or uncataloged).

    Args:
        product: The document.
        at: Whose scheduled prices apply.
        locales: The other markets whose prices, and the languages whose texts, the
            row carries.

    Raises:
        TypeError: When a searched field is not text (a document no materializer of
            ours writes, but the changelog is an input like any other).
    """
    if not product.visible:
        return None
    listing = product.get(catalog.SOURCE)
    if listing is None:
        return None
    # The product's price and stock as Product.price and Product.stock mean them: over
    # its variants.
    product_offers = offers(product, DEFAULT_ORDER, at)
    by_market = {
        market: offers(product, order, at) for market, order in locales.price_orders.items()
    }
    amount = lowest_amount(product_offers, None)
    segments = {
        name
        for offer in product_offers
        if offer.price is not None
        for name in offer.price.segment_amounts
    }
    popular = product.get(popularity.SOURCE)
    option_names = tuple(_label(name, "option name") for name, _ in listing.options)
    return IndexRow(
        id=product.id,
        name=_text(listing.name, "name"),
        brand=None if listing.brand is None else _text(listing.brand, "brand"),
        category=None if listing.category is None else _text(listing.category, "category"),
        description=_text(listing.description, "description"),
        attributes=_named(listing.attributes),
        price=money(amount) if amount is not None else None,
        segment_prices={
            **{
                name: money(segment_amount)
                for name in segments
                if (segment_amount := lowest_amount(product_offers, name)) is not None
            },
            **{
                market_key(market): money(market_amount)
                for market, market_offers in by_market.items()
                if (market_amount := lowest_amount(market_offers, None)) is not None
            },
        },
        in_stock=total_stock(product_offers).available > 0,
        listed_s=int(listing.listed_at.timestamp()) if listing.listed_at else 0,
        units_sold=popular.units_sold,
        trending_score=popular.trending_score,
        option_names=option_names,
        variants=tuple(
            _variant_row(offer, len(option_names), position, by_market)
            for position, offer in enumerate(product_offers)
        )
        if option_names
        else (),
        texts={
            language: (
                _text(listing.text("name", (language,)), "name"),
                _text(listing.text("description", (language,)), "description"),
            )
            for language in locales.languages
        }
        if listing.translations
        else _NO_TEXTS,
    )


# The index keeps every variant of every product with options (``VariantTable``): one
# shared empty mapping, and option values interned, keep that to about 100 bytes each.
_NO_SEGMENT_PRICES: Mapping[str, float] = MappingProxyType({})


def _label(value: object, what: str) -> str:
    text = _text(value, what)
    # Search joins names and values with these (``variant_terms``); the catalog refuses
    # them, so only a document no materializer of ours wrote holds one.
    if any(mark in text for mark in "\x1d\x1e\x1f"):
        raise TypeError(f"{what} holds a control character")
    return sys.intern(text)


def _variant_row(
    offer: Offer, option_count: int, position: int, by_market: Mapping[str, tuple[Offer, ...]]
) -> VariantRow:
    price = offer.price
    values = tuple(_label(value, "option value") for _, value in offer.variant.selected_options)
    if len(values) != option_count:
        raise TypeError("a variant lacks a value of an option")
    named = {} if price is None else {n: money(a) for n, a in price.segment_amounts.items()}
    for market, market_offers in by_market.items():
        found = market_offers[position].price
        if found is not None:
            named[market_key(market)] = money(found.amount)
    return VariantRow(
        values=values,
        in_stock=offer.stock.available > 0,
        price=None if price is None else money(price.amount),
        segment_prices=named or _NO_SEGMENT_PRICES,
    )
