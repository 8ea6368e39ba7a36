"""What a search engine does for the gateway, whatever engine it is.

The gateway keeps one embedded index per replica (``TantivyIndex``). A catalog that
outgrows a replica's memory would implement ``SearchIndex`` over a distributed engine
(OpenSearch, Elasticsearch) instead: rows in, ids and counts out. The rest of the
gateway (the changelog feed, the GraphQL fields, the documents behind the ids) stays.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from shopwindow.gateway.search.rows import IndexRow


class SearchSort(enum.Enum):
    """Orders of a search result."""

    RELEVANCE = "RELEVANCE"
    PRICE_ASC = "PRICE_ASC"
    PRICE_DESC = "PRICE_DESC"
    NEWEST = "NEWEST"
    BESTSELLING = "BESTSELLING"
    TRENDING = "TRENDING"


@dataclass(frozen=True, slots=True)
class AttributeFilter:
    """Products with any of ``values`` for the attribute ``name``."""

    name: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OptionFilter:
    """Products with a variant that has any of ``values`` for the option ``name``."""

    name: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Filters:
    """What a search keeps; unset filters keep everything. Values of one filter are
    alternatives (brand A or B); different filters all apply.

    ``options`` hold at the variant level, together with ``in_stock`` and the price
    bounds: one variant must have a value of every option named, be in stock when
    asked, and, as the cheapest such variant, be priced within the bounds.
    """

    category: str | None = None
    brands: tuple[str, ...] = ()
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    in_stock: bool | None = None
    attributes: tuple[AttributeFilter, ...] = ()
    options: tuple[OptionFilter, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """One search.

    Attributes:
        words: The query's words, analyzed; empty to browse by the filters alone.
        filters: What to keep.
        sort: The order.
        offset: How many results to skip.
        limit: How many results to return.
        segment: Whose prices filter and sort: the viewer's customer segment, or their
            market's (``rows.search_prices``).
        language: The viewer's language, when the index has fields in it
            (``languages``): names and descriptions are matched in it.
        stemmed: ``words`` stemmed in ``language``, one for one.
    """

    words: tuple[str, ...] = ()
    filters: Filters = field(default_factory=Filters)
    sort: SearchSort = SearchSort.RELEVANCE
    offset: int = 0
    limit: int = 20
    segment: str | None = None
    language: str | None = None
    stemmed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchPage:
    """Product ids of one page, in order, and how many products match in all."""

    ids: list[str]
    total: int


@dataclass(frozen=True, slots=True)
class ValueCount:
    """Products per facet value."""

    value: str
    count: int


@dataclass(frozen=True, slots=True)
class PriceRangeCount:
    """Products priced in ``[low, high)``; an open end is ``None``."""

    low: Decimal | None
    high: Decimal | None
    count: int


@dataclass(frozen=True, slots=True)
class OptionFacet:
    """Products per value of one option: those with a variant of that value that
    matches the other filters."""

    name: str
    values: list[ValueCount]


@dataclass(frozen=True, slots=True)
class Facets:
    """Disjunctive facet counts: each counted with every filter but its own."""

    brands: list[ValueCount]
    categories: list[ValueCount]
    price_ranges: list[PriceRangeCount]
    in_stock: list[tuple[bool, int]]
    options: list[OptionFacet] = field(default_factory=list)


class SearchIndex(Protocol):
    """A searchable set of products, written by one feed and read concurrently.

    Writes (``put``, ``remove``) become visible at the next ``commit``. Reads may run in
    worker threads while a write is under way.
    """

    def put(self, rows: Sequence[IndexRow]) -> list[tuple[str, str]]:
        """Add the rows, replacing earlier rows of the same products; returns the
        ``(product id, reason)`` of rows the engine refused (those products are out)."""

    def remove(self, product_ids: Sequence[str]) -> None:
        """Take the products out."""

    def commit(self) -> None:
        """Make every write so far searchable."""

    def count(self) -> int:
        """Products searchable now."""

    def search(self, request: SearchRequest) -> SearchPage:
        """The page ``request`` asks for."""

    def facets(
        self, request: SearchRequest, price_ranges: Sequence[Decimal], values: int
    ) -> Facets:
        """Facet counts of ``request``'s matches, disjunctively; at most ``values`` per
        brand and category facet."""

    def suggest(self, words: Sequence[str], limit: int) -> list[str]:
        """Products whose name or brand match ``words`` as typed so far."""

    def trending(self, category: str | None, limit: int) -> list[str]:
        """The products trending most, optionally of one category."""

    def close(self) -> None:
        """Release the index's files and threads."""
