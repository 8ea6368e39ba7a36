"""The embedded search index of one gateway replica, on tantivy.

Segment prices are dynamic (any segment name a producer sends), but tantivy sorts and
aggregates only declared fields. Each segment seen gets one of ``segment_slots`` price
fields, in the order segments first appear; the slot assignment lives as long as the
index, which is rebuilt at every start. Segments beyond the slots are filtered and
sorted by the base price (logged once).
"""

from __future__ import annotations

import heapq
import logging
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import orjson
import tantivy

from shopwindow.gateway.search import tantivy_query as tq
from shopwindow.gateway.search.engine import (
    Facets,
    PriceRangeCount,
    SearchPage,
    SearchRequest,
    SearchSort,
    ValueCount,
)
from shopwindow.gateway.search.rows import IndexRow

log = logging.getLogger(__name__)

_ORDER_FIELDS = {
    SearchSort.NEWEST: "listed",
    SearchSort.BESTSELLING: "units_sold",
    SearchSort.TRENDING: "trending",
}


def _count(result: tantivy.SearchResult) -> int:
    # The type stubs lack ``count``, which ``search(count=True)`` sets.
    return int(cast(Any, result).count)


def _schema(segment_slots: int) -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", fast=True)
    for field, _ in tq.TEXT_FIELDS:
        builder.add_text_field(field, tokenizer_name="shop")
    for field in ("brand", "category", "attribute"):
        builder.add_text_field(field, tokenizer_name="raw", fast=True)
    builder.add_float_field("price", fast=True, indexed=True)
    for slot in range(segment_slots):
        builder.add_float_field(tq.price_slot_field(slot), fast=True, indexed=True)
    builder.add_unsigned_field("in_stock", fast=True, indexed=True)
    builder.add_integer_field("listed", fast=True)
    builder.add_unsigned_field("units_sold", fast=True)
    builder.add_float_field("trending", fast=True, indexed=True)
    return builder.build()


class TantivyIndex:
    """A ``SearchIndex`` in a directory of its own, removed on ``close``.

    Args:
        directory: Where the index lives; a new temporary directory when ``None``.
        writer_memory_mb: The writer's indexing buffer.
        segment_slots: How many customer segments get their own price fields.
        writer_threads: tantivy's indexing threads.
    """

    def __init__(
        self,
        directory: Path | None = None,
        writer_memory_mb: int = 64,
        segment_slots: int = 16,
        writer_threads: int = 1,
    ) -> None:
        self._owned = directory is None
        self.directory = (
            Path(tempfile.mkdtemp(prefix="shopwindow-search-")) if directory is None else directory
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        self._schema = _schema(segment_slots)
        self._index = tantivy.Index(self._schema, path=str(self.directory), reuse=False)
        self._index.register_tokenizer("shop", tq.analyzer())
        self._writer = self._index.writer(
            heap_size=writer_memory_mb * 1024 * 1024, num_threads=writer_threads
        )
        self._segment_slots = segment_slots
        self._slots: dict[str, int] = {}
        self._overflow_logged = False
        # Products ever written: a delete of one never indexed would only cost time.
        self._written: set[str] = set()
        self._searcher = self._index.searcher()

    def slot_of(self, segment: str | None) -> int | None:
        """The price field slot of ``segment``, if it has one."""
        return None if segment is None else self._slots.get(segment)

    def put(self, rows: Sequence[IndexRow]) -> list[tuple[str, str]]:
        """Add the rows, replacing earlier rows of the same products; a row the engine
        refuses leaves its product out, and is returned with the reason."""
        written = self._written
        refused = []
        for row in rows:
            if row.id in written:
                self._writer.delete_documents_by_term("id", row.id)
            else:
                written.add(row.id)
            try:
                self._writer.add_json(self._document(row))
            except (ValueError, TypeError) as error:
                refused.append((row.id, str(error)))
        return refused

    def remove(self, product_ids: Sequence[str]) -> None:
        """Take the products out."""
        for product_id in product_ids:
            if product_id in self._written:
                self._writer.delete_documents_by_term("id", product_id)

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

    def _document(self, row: IndexRow) -> str:
        # One JSON text per row: tantivy parses it in Rust, several times faster than a
        # Document built field by field from Python.
        doc: dict[str, Any] = {
            "id": row.id,
            "name": row.name,
            "description": row.description,
            "in_stock": int(row.in_stock),
            "listed": row.listed_s,
            "units_sold": max(row.units_sold, 0),
            "trending": row.trending_score,
        }
        if row.brand is not None:
            doc["brand"] = doc["brand_text"] = row.brand
        if row.category is not None:
            doc["category"] = doc["category_text"] = row.category
        if row.attributes:
            doc["attribute"] = [f"{n}{tq.ATTRIBUTE_SEPARATOR}{v}" for n, v in row.attributes]
            doc["attribute_text"] = [value for _, value in row.attributes]
        if row.price is not None:
            doc["price"] = row.price
        for segment, amount in row.segment_prices.items():
            slot = self._slot_for(segment)
            if slot is not None:
                doc[tq.price_slot_field(slot)] = amount
        return orjson.dumps(doc).decode()

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
        clauses = tq.filter_clauses(self._schema, request.filters, slot)
        query = tq.combined(tq.words_query(self._schema, request.words), clauses)
        wanted = request.offset + request.limit
        if request.sort in (SearchSort.PRICE_ASC, SearchSort.PRICE_DESC):
            ascending = request.sort is SearchSort.PRICE_ASC
            hits = self._by_price(searcher, query, slot, wanted, ascending)
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
    ) -> list[tantivy.DocAddress]:
        order = tantivy.Order.Asc if ascending else tantivy.Order.Desc
        wanted = max(wanted, 1)
        base = searcher.search(
            tq.without_segment_price(query, slot), wanted, False, "price", 0, order
        ).hits
        if slot is None:
            return [address for _, address in base]
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
        ``values`` brands and categories, the most frequent."""
        searcher = self._searcher
        slot = self.slot_of(request.segment)
        clauses = tq.filter_clauses(self._schema, request.filters, slot)
        text = tq.words_query(self._schema, request.words)

        # A facet whose own filter is unset counts over the full query: those share one
        # aggregation request.
        facet_filters = {"brands": tq.BRANDS, "categories": tq.CATEGORY, "in_stock": tq.IN_STOCK}
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
        price = tq.combined(text, clauses, but=tq.PRICE)
        return Facets(
            brands=[ValueCount(str(k), n) for k, n in counts["brands"]],
            categories=[ValueCount(str(k), n) for k, n in counts["categories"]],
            price_ranges=self._price_ranges(searcher, price, slot, price_ranges),
            in_stock=sorted(((bool(k), n) for k, n in counts["in_stock"]), key=lambda i: not i[0]),
        )

    def _price_ranges(
        self,
        searcher: tantivy.Searcher,
        query: tantivy.Query,
        slot: int | None,
        boundaries: Sequence[Decimal],
    ) -> list[PriceRangeCount]:
        edges: list[Decimal | None] = [None, *boundaries, None]
        spec = [
            {k: float(v) for k, v in (("from", low), ("to", high)) if v is not None}
            for low, high in zip(edges, edges[1:], strict=False)
        ]
        counts = [0] * len(spec)
        runs = [("price", tq.without_segment_price(query, slot))]
        if slot is not None:
            runs.append((tq.price_slot_field(slot), query))
        for field, scope in runs:
            result = searcher.aggregate(scope, {"r": {"range": {"field": field, "ranges": spec}}})
            for position, bucket in enumerate(result["r"]["buckets"]):
                counts[position] += int(bucket["doc_count"])
        return [
            PriceRangeCount(low, high, count)
            for low, high, count in zip(edges, edges[1:], counts, strict=False)
            if count
        ]
