"""Variants on ``Product``: options, variants with their price and stock, and the
product's price and stock over its variants, named as Shopify's Storefront API names
them so that frontend developers recognise them.

Every field reads the product's document alone (``materializer.sources.offers``), so
the plans, the response cache and the versions read cover them as they cover the rest.
"""

from __future__ import annotations

import base64
import binascii

import orjson
import strawberry

from shopwindow.cost_directives import list_size
from shopwindow.gateway.errors import AmbiguousSku, UserInputError
from shopwindow.gateway.execution.context import Info
from shopwindow.gateway.schema.connections import PageInfo
from shopwindow.gateway.schema.product import product_of
from shopwindow.materializer.sources import catalog
from shopwindow.materializer.sources.inventory import Stock
from shopwindow.materializer.sources.offers import (
    Offer,
    lowest_price,
    offers,
    price_range,
    total_stock,
)
from shopwindow.materializer.sources.prices import Price
from shopwindow.materializer.sources.variants import MAX_OPTIONS, MAX_SKU_LENGTH, MAX_VARIANTS
from shopwindow.product_type import Product

MAX_PAGE = 250  # Shopify's page limit.
# More selected options than a product can declare cannot match; refused before work.
MAX_SELECTED_OPTIONS = MAX_OPTIONS


@strawberry.type(description="An option a product is sold in (size, colour), and its values.")
class ProductOption:
    name: str
    values: list[str] = strawberry.field(directives=[list_size(assumed=10)])


@strawberry.type(description="One option value of a variant.")
class SelectedOption:
    name: str
    value: str


@strawberry.input(description="An option value a shopper picked.")
class SelectedOptionInput:
    name: str
    value: str


@strawberry.type(description="One SKU of a product: its options, price and stock.")
class ProductVariant:
    id: strawberry.ID = strawberry.field(
        description="Unique across products: the product's id and the SKU."
    )
    sku: str | None = strawberry.field(
        description="Null for the default variant of a product that lists none."
    )
    title: str
    selected_options: list[SelectedOption] = strawberry.field(directives=[list_size(assumed=3)])
    price: Price | None = strawberry.field(
        description="What the viewer pays: the SKU's own price, else the product's."
    )
    stock: Stock
    available_for_sale: bool = strawberry.field(description="Priced and in stock.")
    image: str | None
    barcode: str | None
    product: Product


@strawberry.type
class ProductVariantEdge:
    cursor: str
    node: ProductVariant


@strawberry.type(description="A page of a product's variants.")
class ProductVariantConnection:
    edges: list[ProductVariantEdge]
    nodes: list[ProductVariant]
    page_info: PageInfo


@strawberry.type(description="The lowest and highest price over a product's variants.")
class ProductPriceRange:
    min_variant_price: Price
    max_variant_price: Price


def _variant(root: Product, offer: Offer) -> ProductVariant:
    variant = offer.variant
    listing = catalog.catalog_of(root)
    languages = root.languages
    return ProductVariant(
        id=strawberry.ID(orjson.dumps([root.id, variant.sku]).decode()),
        sku=variant.sku,
        title=variant.title,
        selected_options=[
            SelectedOption(
                name=listing.option_name(n, languages),
                value=listing.option_value(n, v, languages),
            )
            for n, v in variant.selected_options
        ],
        price=offer.viewer_price(root.segment),
        stock=offer.stock,
        available_for_sale=offer.available_for_sale,
        image=variant.image,
        barcode=variant.barcode,
        product=root,
    )


def check_sku(sku: str) -> None:
    """Refuse a ``sku`` argument no catalog record could list.

    Raises:
        UserInputError: When it is empty, too long, or not valid Unicode.
    """
    if not 1 <= len(sku) <= MAX_SKU_LENGTH:
        raise UserInputError(f"'sku' must have 1 to {MAX_SKU_LENGTH} characters.")
    try:
        sku.encode("utf-8")
    except UnicodeEncodeError:
        raise UserInputError("'sku' is not valid Unicode.") from None


async def resolve_variant(info: Info, sku: str) -> ProductVariant | None:
    check_sku(sku)
    lookups = info.context.skus
    if lookups is None:
        return None
    found = await lookups.listing(sku)
    if len(found) > 1:
        raise AmbiguousSku(
            f"SKU {sku!r} is listed by more than one product; it is served by none of them "
            "until the catalog lists it under one."
        )
    if not found:
        return None
    root = product_of(found[0], info.context)
    offer = next(
        (o for o in offers(found[0], root.price_order, root.prices_at) if o.variant.sku == sku),
        None,
    )
    return _variant(root, offer) if offer is not None else None


def _cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"variant:{position}".encode()).decode()


def _position_after(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii", "strict")).decode()
        kind, _, number = text.partition(":")
        position = int(number)
    except (binascii.Error, UnicodeError, ValueError):
        raise UserInputError("'after' is not a cursor of this connection.") from None
    if kind != "variant" or not 0 <= position < MAX_VARIANTS:
        raise UserInputError("'after' is not a cursor of this connection.")
    return position + 1


def _options(root: Product) -> list[ProductOption]:
    listing = catalog.catalog_of(root)
    languages = root.languages
    return [
        ProductOption(
            name=listing.option_name(name, languages),
            values=[listing.option_value(name, value, languages) for value in values],
        )
        for name, values in listing.options
    ]


def _variants(root: Product, first: int = 20, after: str | None = None) -> ProductVariantConnection:
    if not 0 <= first <= MAX_PAGE:
        raise UserInputError(f"'first' must be between 0 and {MAX_PAGE}.")
    start = _position_after(after)
    every = offers(root.sale_product, root.price_order, root.prices_at)
    page = every[start : start + first]
    edges = [
        ProductVariantEdge(cursor=_cursor(start + n), node=_variant(root, offer))
        for n, offer in enumerate(page)
    ]
    return ProductVariantConnection(
        edges=edges,
        nodes=[edge.node for edge in edges],
        page_info=PageInfo(
            has_next_page=start + len(page) < len(every),
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


def _matching(
    root: Product,
    selected: list[SelectedOptionInput],
    ignore_unknown: bool,
    case_insensitive: bool,
) -> list[Offer]:
    if len(selected) > MAX_SELECTED_OPTIONS:
        raise UserInputError(f"At most {MAX_SELECTED_OPTIONS} selected options.")

    def fold(text: str) -> str:
        return text.casefold() if case_insensitive else text

    every = offers(root.sale_product, root.price_order, root.prices_at)
    listing = catalog.catalog_of(root)
    languages = root.languages
    # A shopper picks what the page shows: names and values in the context's language,
    # or the catalog's own; either spelling means the catalog's option and value.
    names: dict[str, str] = {}
    values: dict[str, dict[str, str]] = {}
    for name, listed in listing.options:
        for spelling in (name, listing.option_name(name, languages)):
            names.setdefault(fold(spelling), name)
        values[name] = {}
        for value in listed:
            for spelling in (value, listing.option_value(name, value, languages)):
                values[name].setdefault(fold(spelling), value)
    wanted: dict[str, str | None] = {}
    for option in selected:
        canonical = names.get(fold(option.name))
        if canonical is None:
            if ignore_unknown:
                continue
            return []
        wanted[canonical] = values[canonical].get(fold(option.value))
    return [
        offer
        for offer in every
        if all(wanted.get(name, value) == value for name, value in offer.variant.selected_options)
    ]


def _variant_by_selected_options(
    root: Product,
    selected_options: list[SelectedOptionInput],
    ignore_unknown_options: bool = False,
    case_insensitive_match: bool = False,
) -> ProductVariant | None:
    matching = _matching(root, selected_options, ignore_unknown_options, case_insensitive_match)
    # Every option must be chosen (as on Shopify) unless the choice leaves one variant.
    return _variant(root, matching[0]) if len(matching) == 1 else None


def _selected_or_first_available_variant(
    root: Product, selected_options: list[SelectedOptionInput] | None = None
) -> ProductVariant | None:
    matching = _matching(root, selected_options or [], True, False) or list(
        offers(root.sale_product, root.price_order, root.prices_at)
    )
    chosen = next((o for o in matching if o.available_for_sale), matching[0])
    return _variant(root, chosen)


def _price(root: Product) -> Price | None:
    return lowest_price(offers(root.sale_product, root.price_order, root.prices_at), root.segment)


def _stock(root: Product) -> Stock:
    return total_stock(offers(root.sale_product, root.price_order, root.prices_at))


def _price_range(root: Product) -> ProductPriceRange | None:
    found = price_range(offers(root.sale_product, root.price_order, root.prices_at), root.segment)
    if found is None:
        return None
    return ProductPriceRange(min_variant_price=found[0], max_variant_price=found[1])


def _available_for_sale(root: Product) -> bool:
    return any(
        offer.available_for_sale
        for offer in offers(root.sale_product, root.price_order, root.prices_at)
    )


@strawberry.type
class VariantFields:
    price: Price | None = strawberry.field(
        resolver=_price,
        description="What the viewer pays: the lowest price among the variants available "
        "for sale (among all priced variants when none is).",
    )
    stock: Stock = strawberry.field(
        resolver=_stock,
        description="Units summed over the variants, with the best status among them.",
    )
    options: list[ProductOption] = strawberry.field(
        resolver=_options, directives=[list_size(assumed=3)]
    )
    variants: ProductVariantConnection = strawberry.field(
        resolver=_variants,
        directives=[list_size(slicing=["first"], sized_fields=["edges", "nodes"])],
        description="The product's variants in the catalog's order; a product that lists "
        f"none has one default variant. `first` is at most {MAX_PAGE}.",
    )
    variant_by_selected_options: ProductVariant | None = strawberry.field(
        resolver=_variant_by_selected_options,
        description="The variant with these option values; null unless exactly one "
        "matches. `ignoreUnknownOptions` drops options the product does not declare "
        "(else they match nothing); `caseInsensitiveMatch` compares names and values "
        "without case.",
    )
    selected_or_first_available_variant: ProductVariant | None = strawberry.field(
        resolver=_selected_or_first_available_variant,
        description="The first variant available for sale among those matching the "
        "selected options (options the product does not declare are ignored), else the "
        "first matching one, else the first variant.",
    )
    price_range: ProductPriceRange | None = strawberry.field(
        resolver=_price_range, description="Null when no variant has a price."
    )
    available_for_sale: bool = strawberry.field(
        resolver=_available_for_sale, description="Whether any variant is available for sale."
    )
