"""The embedded search index of one gateway replica, on tantivy.

Segment prices are dynamic (any segment name a producer sends), but tantivy sorts and
aggregates only declared fields. Each segment seen gets one of ``segment_slots`` price
fields, in the order segments first appear; the slot assignment lives as long as the
index, which is rebuilt at every start. Segments beyond the slots are filtered and
sorted by the base price (logged once).

Each market but the default one has a price field of its own, declared from the markets
file (``rows.market_key``): its viewers filter, sort and count price ranges by it, and a
product without a price there has none (it sorts last and no price bound keeps it).
"""

from __future__ import annotations

import heapq
import logging
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, cast

import tantivy

from shopwindow.gateway.search import languages
from shopwindow.gateway.search import tantivy_query as tq
from shopwindow.gateway.search import variant_prices as vp
from shopwindow.gateway.search.engine import (
    Facets,
    OptionFacet,
    PriceRangeCount,
    SearchPage,
    SearchRequest,
    SearchSort,
    ValueCount,
)
from shopwindow.gateway.search.rows import IndexRow, is_market_key, market_key
from shopwindow.gateway.search.tantivy_documents import document, schema
from shopwindow.gateway.search.variant_facets import counted_by_terms, facets_of, option_names
from shopwindow.gateway.search.variant_table import VariantTable, bucket

log = logging.getLogger(__name__)

_ORDER_FIELDS = {
    SearchSort.NEWEST: "listed",
    SearchSort.BESTSELLING: "units_sold",
    SearchSort.TRENDING: "trending",
}


def _count(result: tantivy.SearchResult) -> int:
    # The type stubs lack ``count``, which ``search(count=True)`` sets.
    return int(cast(Any, result).count)


class TantivyIndex:
    """A ``SearchIndex`` in a directory of its own, removed on ``close``.

    Args:
        directory: Where the index lives; a new temporary directory when ``None``.
        writer_memory_mb: The writer's indexing buffer.
        segment_slots: How many customer segments get their own price fields.
        writer_threads: tantivy's indexing threads.
        markets: Every market but the default one: each gets a price field.
        indexed_languages: Languages whose names and descriptions get fields of their
            own, stemmed (``languages.indexed_languages``).
    """

    def __init__(
        self,
        directory: Path | None = None,
        writer_memory_mb: int = 64,
        segment_slots: int = 16,
        writer_threads: int = 1,
        markets: Sequence[str] = (),
        indexed_languages: Sequence[str] = (),
    ) -> None:
        self._owned = directory is None
        self.directory = (
            Path(tempfile.mkdtemp(prefix="shopwindow-search-")) if directory is None else directory
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        self._languages = tuple(indexed_languages)
        self._schema = schema(segment_slots + len(markets), self._languages)
        self._index = tantivy.Index(self._schema, path=str(self.directory), reuse=False)
        self._index.register_tokenizer("shop", languages.analyzer(None))
        for language in self._languages:
            self._index.register_tokenizer(
                languages.tokenizer_of(language), languages.analyzer(language)
            )
        self._writer = self._index.writer(
            heap_size=writer_memory_mb * 1024 * 1024, num_threads=writer_threads
        )
        self._segment_slots = segment_slots + len(markets)
        self._slots: dict[str, int] = {market_key(m): n for n, m in enumerate(markets)}
        self._overflow_logged = False
        # Products ever written (a delete of one never indexed would only cost time),
        # and the variants that price filters over options need.
        self._table = VariantTable()
        self._searcher = self._index.searcher()

    def slot_of(self, segment: str | None) -> int | None:
        """The price field slot of ``segment``, if it has one."""
        return None if segment is None else self._slots.get(segment)

    def put(self, rows: Sequence[IndexRow]) -> list[tuple[str, str]]:
        """Add the rows, replacing earlier rows of the same products; a row the engine
        refuses leaves its product out, and is returned with the reason."""
        table = self._table
        refused = []
        for row in rows:
            if table.known(row.id):
                self._writer.delete_documents_by_term("id", row.id)
            ordinal = table.ordinal(row.id)
            try:
                self._writer.add_json(document(row, ordinal, self._slot_for, self._languages))
            except (ValueError, TypeError) as error:
                refused.append((row.id, str(error)))
                table.keep(ordinal, None)
            else:
                table.keep(ordinal, row)
        return refused

    def remove(self, product_ids: Sequence[str]) -> None:
        """Take the products out."""
        for product_id in product_ids:
            if self._table.known(product_id):
                self._writer.delete_documents_by_term("id", product_id)
                self._table.keep(self._table.ordinal(product_id), None)

    def commit(self) -> None:
        """Make every write so far searchable."""
        self._writer.commit()
        self._index.reload()
        self._searcher = self._index.searcher()

    def count(self) -> int:
        """Products searchable now."""
        return int(self._searcher.num_docs)

    def close(self) -> None:
        """Stop the writer's threads and remove an index this object created."""
        self._writer.wait_merging_threads()
        if self._owned:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _slot_for(self, segment: str) -> int | None:
        slot = self._slots.get(segment)
        if slot is not None:
            return slot
        if len(self._slots) < self._segment_slots:
            slot = self._slots[segment] = len(self._slots)
            return slot
        if not self._overflow_logged:
            self._overflow_logged = True
            log.warning(
                "more customer segments than search price slots; the rest search by the base price",
                extra={"segment": segment, "slots": self._segment_slots},
            )
        return None

    # Reading.

    def search(self, request: SearchRequest) -> SearchPage:
        """The page ``request`` asks for."""
        searcher = self._searcher
        slot = self.slot_of(request.segment)
        text = self._words_query(request)
        query = tq.combined(text, self._clauses(searcher, text, request, slot))
        fallback = not is_market_key(request.segment)
        wanted = request.offset + request.limit
        if request.sort in (SearchSort.PRICE_ASC, SearchSort.PRICE_DESC):
            ascending = request.sort is SearchSort.PRICE_ASC
            if request.filters.options:
                return vp.by_price(
                    searcher,
                    query,
                    self._table,
                    request,
                    ascending,
                    partial(self._ordinals, searcher),
                )
            hits = self._by_price(searcher, query, slot, wanted, ascending, fallback)
            total = _count(searcher.search(query, 1, count=True))
            page = hits[request.offset : request.offset + request.limit]
            return SearchPage([self._id(searcher, a) for a in page], total)
        order_by = _ORDER_FIELDS.get(request.sort)
        # tantivy refuses a limit of 0 (it panics): one is collected and dropped.
        result = searcher.search(
            query,
            max(request.limit, 1),
            count=True,
            order_by_field=order_by,
            offset=request.offset,
            order=tantivy.Order.Desc,
        )
        found = result.hits[: request.limit]
        return SearchPage([self._id(searcher, a) for _, a in found], _count(result))

    def _clauses(
        self,
        searcher: tantivy.Searcher,
        text: tantivy.Query,
        request: SearchRequest,
        slot: int | None,
    ) -> dict[str, tantivy.Query]:
        filters = request.filters
        fallback = not is_market_key(request.segment)
        clauses = tq.filter_clauses(self._schema, filters, slot, fallback)
        if filters.options and (filters.price_min is not None or filters.price_max is not None):
            # The cheapest matching variant's price, of the products the other filters
            # keep and whose price bounds reach the filter's: only the kept variants
            # can tell it.
            reachable = {**clauses, tq.PRICE: vp.reachable(self._schema, filters)}
            candidates = self._ordinals(searcher, tq.combined(text, reachable))
            kept = vp.within_bounds(self._table, candidates, request)
            clauses[tq.PRICE] = tantivy.Query.term_set_query(self._schema, "ordinal", kept)
        return clauses

    def _words_query(self, request: SearchRequest) -> tantivy.Query:
        language = request.language if request.language in self._languages else None
        return tq.words_query(
            self._schema, request.words, language=language, stemmed=request.stemmed
        )

    def _ordinals(self, searcher: tantivy.Searcher, query: tantivy.Query) -> list[int]:
        total = _count(searcher.search(query, 1, count=True))
        if not total:
            return []
        # Ordered by the ordinal fast field, the hits carry it: no stored document read.
        hits = searcher.search(query, total, count=False, order_by_field="ordinal").hits
        return [int(value) for value, _ in hits]

    def suggest(self, words: Sequence[str], limit: int) -> list[str]:
        """Products whose name or brand match ``words`` as typed so far, best first."""
        query = tq.words_query(self._schema, words, tq.SUGGEST_FIELDS)
        searcher = self._searcher
        hits = searcher.search(query, max(limit, 1)).hits[:limit]
        return [self._id(searcher, a) for _, a in hits]

    def trending(self, category: str | None, limit: int) -> list[str]:
        """The products with the highest trending score, optionally of one category."""
        active = tantivy.Query.range_query(
            self._schema, "trending", tantivy.FieldType.Float, 0.0, None, include_lower=False
        )
        clauses = {"trending": active}
        if category is not None:
            clauses["category"] = tantivy.Query.term_query(self._schema, "category", category)
        query = tq.combined(tantivy.Query.all_query(), clauses)
        searcher = self._searcher
        result = searcher.search(
            query, max(limit, 1), count=False, order_by_field="trending", order=tantivy.Order.Desc
        )
        return [self._id(searcher, a) for _, a in result.hits[:limit]]

    def _by_price(
        self,
        searcher: tantivy.Searcher,
        query: tantivy.Query,
        slot: int | None,
        wanted: int,
        ascending: bool,
        fallback: bool = True,
    ) -> list[tantivy.DocAddress]:
        order = tantivy.Order.Asc if ascending else tantivy.Order.Desc
        wanted = max(wanted, 1)
        base = searcher.search(
            tq.without_segment_price(query, slot), wanted, False, "price", 0, order
        ).hits
        if slot is None:
            return [address for _, address in base]
        if not fallback:
            # Another market's viewer: a product without its price there has none.
            base = [(None, address) for _, address in base]
        # Products with the segment's own price, and those without it (at the base
        # price): two sorted runs, merged. Products without any price come last.
        own = searcher.search(query, wanted, False, tq.price_slot_field(slot), 0, order).hits
        own = [(price, address) for price, address in own if price is not None]

        def key(hit: tuple[Any, tantivy.DocAddress]) -> tuple[bool, float]:
            price = hit[0]
            return (price is None, 0.0 if price is None else price if ascending else -price)

        merged: Iterator[tuple[Any, tantivy.DocAddress]] = heapq.merge(own, base, key=key)
        return [address for _, address in list(merged)[:wanted]]

    @staticmethod
    def _id(searcher: tantivy.Searcher, address: tantivy.DocAddress) -> str:
        value: str = searcher.doc(address)["id"][0]
        return value

    def facets(
        self, request: SearchRequest, price_ranges: Sequence[Decimal], values: int
    ) -> Facets:
        """Facet counts of ``request``'s matches, each without its own filter; at most
        ``values`` brands, categories and values per option, the most frequent."""
        searcher = self._searcher
        slot = self.slot_of(request.segment)
        filters = request.filters
        text = self._words_query(request)
        clauses = self._clauses(searcher, text, request, slot)

        # A facet whose own filter is unset counts over the full query: those share one
        # aggregation request. With options filtered, stock is counted per variant below.
        facet_filters = {"brands": tq.BRANDS, "categories": tq.CATEGORY}
        if not filters.options:
            facet_filters["in_stock"] = tq.IN_STOCK
        fields = {"brands": "brand", "categories": "category", "in_stock": "in_stock"}
        groups: dict[str, list[str]] = {}
        for facet, own in facet_filters.items():
            groups.setdefault(own if own in clauses else "", []).append(facet)
        counts: dict[str, list[tuple[Any, int]]] = {}
        for excluded, facets in groups.items():
            query = tq.combined(text, clauses, but=excluded)
            spec = {f: {"terms": {"field": fields[f], "size": values}} for f in facets}
            result = searcher.aggregate(query, spec)
            for facet in facets:
                found = [(b["key"], int(b["doc_count"])) for b in result[facet]["buckets"]]
                counts[facet] = sorted(found, key=lambda item: (-item[1], str(item[0])))
        if filters.options:
            counts["in_stock"] = [
                (flag, self._count_with(searcher, text, request, slot, in_stock=flag))
                for flag in (True, False)
            ]
        return Facets(
            brands=[ValueCount(str(k), n) for k, n in counts["brands"]],
            categories=[ValueCount(str(k), n) for k, n in counts["categories"]],
            price_ranges=self._price_facet(searcher, text, clauses, request, slot, price_ranges),
            in_stock=sorted(
                ((bool(k), n) for k, n in counts["in_stock"] if n), key=lambda i: not i[0]
            ),
            options=self._option_facets(searcher, text, clauses, request, values),
        )

    def _count_with(
        self,
        searcher: tantivy.Searcher,
        text: tantivy.Query,
        request: SearchRequest,
        slot: int | None,
        in_stock: bool,
    ) -> int:
        flagged = replace(request, filters=replace(request.filters, in_stock=in_stock))
        query = tq.combined(text, self._clauses(searcher, text, flagged, slot))
        return _count(searcher.search(query, 1, count=True))

    def _price_facet(
        self,
        searcher: tantivy.Searcher,
        text: tantivy.Query,
        clauses: dict[str, tantivy.Query],
        request: SearchRequest,
        slot: int | None,
        boundaries: Sequence[Decimal],
    ) -> list[PriceRangeCount]:
        query = tq.combined(text, clauses, but=tq.PRICE)
        if not request.filters.options:
            fallback = not is_market_key(request.segment)
            return self._price_ranges(searcher, query, slot, boundaries, fallback)
        edges: list[Decimal | None] = [None, *boundaries, None]
        prices = self._table.prices(
            self._ordinals(searcher, query), request.filters, request.segment
        )
        counts = bucket(prices.values(), edges)
        return [
            PriceRangeCount(low, high, count)
            for low, high, count in zip(edges, edges[1:], counts, strict=False)
            if count
        ]

    def _option_facets(
        self,
        searcher: tantivy.Searcher,
        text: tantivy.Query,
        clauses: dict[str, tantivy.Query],
        request: SearchRequest,
        values: int,
    ) -> list[OptionFacet]:
        filters = request.filters
        priced = filters.price_min is not None or filters.price_max is not None
        # The stock filter and the options are the counted value's (per variant), and
        # so is a price bound when options are filtered.
        own = {tq.OPTIONS, tq.IN_STOCK} | ({tq.PRICE} if filters.options or priced else set())
        base = tq.combined(text, {k: q for k, q in clauses.items() if k not in own})
        names = option_names(searcher, base)
        if not names:
            return []
        if priced:
            ordinals = self._ordinals(searcher, base)
            counts = self._table.option_counts(ordinals, filters, request.segment, names)
        else:
            counts = counted_by_terms(
                self._schema,
                searcher,
                base,
                filters,
                names,
                values,
                lambda query: _count(searcher.search(query, 1, count=True)),
            )
        return facets_of(names, counts, values)

    def _price_ranges(
        self,
        searcher: tantivy.Searcher,
        query: tantivy.Query,
        slot: int | None,
        boundaries: Sequence[Decimal],
        fallback: bool,
    ) -> list[PriceRangeCount]:
        edges: list[Decimal | None] = [None, *boundaries, None]
        spec = [
            {k: float(v) for k, v in (("from", low), ("to", high)) if v is not None}
            for low, high in zip(edges, edges[1:], strict=False)
        ]
        counts = [0] * len(spec)
        runs = [("price", tq.without_segment_price(query, slot))] if fallback else []
        if slot is not None:
            runs.append((tq.price_slot_field(slot), query))
        for field, scope in runs:
            result = searcher.aggregate(scope, {"r": {"range": {"field": field, "ranges": spec}}})
            for position, found in enumerate(result["r"]["buckets"]):
                counts[position] += int(found["doc_count"])
        return [
            PriceRangeCount(low, high, count)
            for low, high, count in zip(edges, edges[1:], counts, strict=False)
            if count
        ]
