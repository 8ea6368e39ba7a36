"""Prices of products filtered by option: the cheapest matching variant's.

It depends on the filter and on the viewer's segment, so the index cannot hold it. The
index holds bounds instead, per product: ``price_floor``, the lowest price any variant
has for any viewer, and ``price_ceiling``, the highest. Then:

- a price bound keeps only products whose bounds reach it, and the kept variants
  decide among those;
- a price sort reads products in the order of their bounds and works out their exact
  prices, and stops once the next bound cannot beat the page: "size M, cheapest
  first" over 50,000 shirts reads a few hundred (the threshold algorithm);
- the price facet needs every match's price, and works them all out.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any, cast

import tantivy

from shopwindow.gateway.search.engine import Filters, SearchPage, SearchRequest
from shopwindow.gateway.search.rows import IndexRow, money
from shopwindow.gateway.search.variant_table import VariantTable, within

FLOOR, CEILING = "price_floor", "price_ceiling"
_Must = tantivy.Occur.Must


def bounds(row: IndexRow) -> dict[str, float]:
    """The index fields of a product with options: its price bounds, if priced."""
    prices = [
        price
        for variant in row.variants
        for price in (variant.price, *variant.segment_prices.values())
        if price is not None
    ]
    return {FLOOR: min(prices), CEILING: max(prices)} if prices else {}


def reachable(schema: tantivy.Schema, filters: Filters) -> tantivy.Query:
    """Products whose bounds reach the filter's price bounds: the only ones that can
    have a matching variant within them."""
    low = money(filters.price_min) if filters.price_min is not None else None
    high = money(filters.price_max) if filters.price_max is not None else None
    float_type = tantivy.FieldType.Float
    clauses = [
        (_Must, tantivy.Query.range_query(schema, field, float_type, lower, upper))
        for field, lower, upper in ((FLOOR, None, high), (CEILING, low, None))
        if (lower, upper) != (None, None)
    ]
    return tantivy.Query.boolean_query(clauses)


def within_bounds(table: VariantTable, ordinals: list[int], request: SearchRequest) -> list[int]:
    """The products of ``ordinals`` whose cheapest matching variant is within bounds."""
    prices = table.prices(ordinals, request.filters, request.segment)
    return [ordinal for ordinal, price in prices.items() if within(price, request.filters)]


def by_price(
    searcher: tantivy.Searcher,
    query: tantivy.Query,
    table: VariantTable,
    request: SearchRequest,
    ascending: bool,
    ordinals_of: Callable[[tantivy.Query], list[int]],
) -> SearchPage:
    """The page of a price sort over option-filtered products; those without a priced
    matching variant come last, in the order they were first indexed."""
    wanted = request.offset + request.limit
    sign = 1.0 if ascending else -1.0
    # The best ``wanted`` so far as a heap of (-sign * price, -ordinal): the worst on
    # top, ties going to the product indexed first.
    best: list[tuple[float, int]] = []
    read, batch, stopped = 0, max(2 * wanted, 64), False
    while not stopped:
        hits = searcher.search(
            query,
            batch,
            count=False,
            order_by_field=FLOOR if ascending else CEILING,
            offset=read,
            order=tantivy.Order.Asc if ascending else tantivy.Order.Desc,
        ).hits
        read += len(hits)
        for bound, address in hits:
            if bound is not None and len(best) >= wanted and sign * bound > -best[0][0]:
                stopped = True  # No product from here on can beat the page's worst.
                break
            ordinal = table.ordinal(searcher.doc(address)["id"][0])
            price = table.prices([ordinal], request.filters, request.segment)[ordinal]
            if price is None:
                continue
            entry = (-sign * price, -ordinal)
            if len(best) < wanted:
                heapq.heappush(best, entry)
            elif entry > best[0]:
                heapq.heapreplace(best, entry)
        if len(hits) < batch:
            break
        batch *= 2
    ranked = [-ordinal for _, ordinal in sorted(best, reverse=True)]
    if not stopped and len(ranked) < wanted:
        # The page reaches past the priced products, all of which were read.
        priced = set(ranked)
        ranked += [ordinal for ordinal in sorted(ordinals_of(query)) if ordinal not in priced]
    page = ranked[request.offset : wanted]
    total = cast(Any, searcher.search(query, 1, count=True)).count
    return SearchPage([table.id_of(ordinal) for ordinal in page], int(total))
