"""The GraphQL side of search: ``search``, ``searchSuggestions`` and ``trending``.

The index answers with product ids only; the products themselves are read through the
operation's loader, like any other product, so a search result can select anything a
product query can, at the viewer's prices. Filters, sorts and price facets use the
prices of the viewer's market (``@inContext``): a segment's own prices in the default
market, a market's public prices in the others (``rows.search_prices``). A product
hidden between the index's answer and the read is left out of the page.
"""

from __future__ import annotations

from decimal import Decimal

import strawberry

from shopwindow.cost_directives import list_size
from shopwindow.gateway.errors import SearchUnavailable
from shopwindow.gateway.execution.context import Info
from shopwindow.gateway.schema.connections import PageInfo, ProductEdge
from shopwindow.gateway.schema.product import product_of
from shopwindow.gateway.search.engine import (
    AttributeFilter,
    Filters,
    OptionFilter,
    SearchRequest,
    SearchSort,
)
from shopwindow.gateway.search.rows import search_prices
from shopwindow.gateway.search.service import SearchService, encode_position, unique
from shopwindow.product_type import Product

strawberry.enum(
    SearchSort,
    description="Orders of a search result. Prices are the viewer's: their market's "
    "(`@inContext`), at their segment's price in the default market.",
)


@strawberry.input(description="Products with any of `values` for the attribute `name`.")
class AttributeFilterInput:
    name: str
    values: list[str]


@strawberry.input(
    description="Products with a variant that has any of `values` for the option `name` "
    "(size, colour), as the catalog spells them."
)
class OptionFilterInput:
    name: str
    values: list[str]


@strawberry.input(
    description="What a search keeps. The values of one filter are alternatives; "
    "different filters all apply. Prices are the viewer's. `options` hold per variant, "
    "together with `inStock` and the price bounds: one variant must have a value of "
    "every option named, be in stock when asked, and, as the cheapest such variant, be "
    "priced within the bounds; price sorts then use that variant's price."
)
class ProductFilter:
    category: str | None = None
    brands: list[str] | None = None
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    in_stock: bool | None = None
    attributes: list[AttributeFilterInput] | None = None
    options: list[OptionFilterInput] | None = None


@strawberry.type(description="Products per facet value.")
class FacetValue:
    value: str
    count: int


@strawberry.type(description="Products in stock, or not.")
class StockFacetValue:
    value: bool
    count: int


@strawberry.type(description="Products priced at least `min` and below `max` (open if null).")
class PriceRangeFacet:
    min: Decimal | None
    max: Decimal | None
    count: int


@strawberry.type(
    description="Products per value of one option: those that would match if the "
    "shopper picked that value."
)
class OptionFacet:
    name: str
    values: list[FacetValue] = strawberry.field(directives=[list_size(assumed=50)])


@strawberry.type(
    description="Facet counts. Each facet is counted with every filter applied except "
    "its own, so that the other values of a selected facet keep their counts."
)
class SearchFacets:
    # Facets list at most SHOPWINDOW_SEARCH_FACET_VALUES values (50 by default), price
    # ranges one more than the bounds, stock two.
    brands: list[FacetValue] = strawberry.field(directives=[list_size(assumed=50)])
    categories: list[FacetValue] = strawberry.field(directives=[list_size(assumed=50)])
    price_ranges: list[PriceRangeFacet] = strawberry.field(directives=[list_size(assumed=7)])
    in_stock: list[StockFacetValue] = strawberry.field(directives=[list_size(assumed=2)])
    # At most 20 options, the most common among the matches.
    options: list[OptionFacet] = strawberry.field(directives=[list_size(assumed=20)])


async def _facets(root: SearchResult, info: Info) -> SearchFacets:
    found = await _service(info).facets(root.request)
    return SearchFacets(
        brands=[FacetValue(value=v.value, count=v.count) for v in found.brands],
        categories=[FacetValue(value=v.value, count=v.count) for v in found.categories],
        price_ranges=[
            PriceRangeFacet(min=r.low, max=r.high, count=r.count) for r in found.price_ranges
        ],
        in_stock=[StockFacetValue(value=v, count=n) for v, n in found.in_stock],
        options=[
            OptionFacet(
                name=o.name, values=[FacetValue(value=v.value, count=v.count) for v in o.values]
            )
            for o in found.options
        ],
    )


@strawberry.type(description="A page of search results, with facets.")
class SearchResult:
    edges: list[ProductEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Products matching, on all pages.")
    request: strawberry.Private[SearchRequest]
    facets: SearchFacets = strawberry.field(
        resolver=_facets,
        description="Counted only when selected.",
    )


def _service(info: Info) -> SearchService:
    service = info.context.search
    if service is None:
        raise SearchUnavailable("Search is not enabled on this server.")
    return service


def _filters(given: ProductFilter | None) -> Filters:
    if given is None:
        return Filters()
    return Filters(
        category=given.category,
        brands=unique(given.brands),
        price_min=given.price_min,
        price_max=given.price_max,
        in_stock=given.in_stock,
        attributes=tuple(AttributeFilter(a.name, unique(a.values)) for a in given.attributes or ()),
        options=tuple(OptionFilter(o.name, unique(o.values)) for o in given.options or ()),
    )


async def _products(info: Info, ids: list[str]) -> list[Product]:
    docs = await info.context.products.load_many(ids)
    return [product_of(doc, info.context) for doc in docs if doc is not None]


async def resolve_search(
    info: Info,
    query: str | None = None,
    filter: ProductFilter | None = None,
    sort: SearchSort = SearchSort.RELEVANCE,
    first: int = 20,
    after: str | None = None,
) -> SearchResult:
    service = _service(info)
    offset, limit = service.page(first, after)
    words = service.words(query)
    language, stemmed = service.stemmed(query, info.context.localization.language)
    request = SearchRequest(
        words=words,
        filters=_filters(filter),
        sort=sort,
        offset=offset,
        limit=limit,
        segment=search_prices(info.context.segment, info.context.localization.price_order),
        language=language,
        stemmed=stemmed,
    )
    page = await service.search(request)
    docs = await info.context.products.load_many(page.ids)
    edges = [
        ProductEdge(cursor=encode_position(offset + position), node=product_of(doc, info.context))
        for position, doc in enumerate(docs)
        if doc is not None
    ]
    end = offset + len(page.ids)
    return SearchResult(
        edges=edges,
        page_info=PageInfo(
            has_next_page=end < page.total,
            end_cursor=encode_position(end - 1) if page.ids else None,
        ),
        total_count=page.total,
        request=request,
    )


async def resolve_search_suggestions(info: Info, prefix: str, first: int = 8) -> list[Product]:
    return await _products(info, await _service(info).suggest(prefix, first))


async def resolve_trending(
    info: Info, category: str | None = None, first: int = 20
) -> list[Product]:
    return await _products(info, await _service(info).trending(category, first))


@strawberry.type
class SearchQuery:
    search: SearchResult = strawberry.field(
        resolver=resolve_search,
        directives=[list_size(slicing=["first"], sized_fields=["edges"])],
        description="Full-text search with filters and facets. Words match in name and "
        "brand first, then category, description and attribute values; words of five "
        "letters or more may have one typo, and the last word matches as a prefix "
        "(search as you type). Without `query`, the filters alone choose. `first` is "
        "capped (100 by default) and paging ends at 10,000 results by default.",
    )
    search_suggestions: list[Product] = strawberry.field(
        resolver=resolve_search_suggestions,
        directives=[list_size(slicing=["first"])],
        description="Products whose name or brand match what has been typed, for a "
        "search box's dropdown.",
    )
    trending: list[Product] = strawberry.field(
        resolver=resolve_trending,
        directives=[list_size(slicing=["first"])],
        description="The products with the highest `popularity.trendingScore`, of one "
        "category if given.",
    )
