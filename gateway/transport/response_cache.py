"""Answers to queries kept while every product they read is unchanged.

A storefront asks the same query for the same product over and over, POSTed as text or
persisted. The first answer is kept with what it depends on: the version of every
product its loader read. A later identical request (the same document text by its
SHA-256, operation, variables and segment, however it arrives) is answered
from the kept bytes, without running the operation, if the document cache, fed by the
changelog and current, still holds exactly those versions. Anything else runs the
operation as usual:

* a product the cache no longer holds, or holds at another version;
* a changelog reader that is not current (the cache is not trusted then);
* an operation reading anything other than products by id: a category page, a field
  an extension adds (it may read its own collections), a read-your-writes ``after``;
* a moment at or past the first boundary of a scheduled price among the products it
  read (``Freshness.until``): the prices it shows no longer apply.

Bounded in bytes, least recently used first out. Freshness is reported as of the kept
answer, with this replica's lag at the time of the request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from graphql import GraphQLObjectType, GraphQLSchema

from shopwindow.clock import Clock
from shopwindow.gateway.execution.plan import ExecutionPlan
from shopwindow.gateway.metrics import GatewayMetrics
from shopwindow.gateway.reads.document_cache import DocumentCache, ReaderState

# Root fields that read products by id, and their read-your-writes argument: an
# operation giving ``after`` must wait, so it is never answered from here.
_BY_ID = ("Query.product", "Query.products")
_WAITS = frozenset(f"{field}(after)" for field in _BY_ID)
# Bookkeeping per entry besides the bytes of its data.
_ENTRY_BYTES = 200

# (document hash, operation name, variables as sorted JSON, segment)
Key = tuple[str, str | None, bytes, str | None]


def document_fields(schema: GraphQLSchema) -> frozenset[str]:
    """The fields of ``schema`` whose values come from product documents read by id:
    every field of its object types, and of the root fields only the lookups by id.

    Args:
        schema: The schema of the core and the sources, without extensions (whose fields
            may read anything).
    """
    roots = {schema.query_type, schema.mutation_type, schema.subscription_type}
    fields = {
        f"{name}.{field}"
        for name, kind in schema.type_map.items()
        if isinstance(kind, GraphQLObjectType) and kind not in roots and not name.startswith("__")
        for field in kind.fields
    }
    return frozenset({*fields, *_BY_ID})


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """A kept answer.

    Attributes:
        data: The serialized ``data``.
        tag: Its entity tag.
        versions: ``(product id, version)`` of every product its loader read.
        oldest_materialized_at: For its freshness report.
        actual_cost: The cost of ``data`` (``extensions.cost.actualQueryCost``).
        until: When a scheduled price of a product it read begins or ends; it is not
            served from then on.
    """

    data: bytes
    tag: str
    versions: tuple[tuple[str, int], ...]
    oldest_materialized_at: datetime | None
    actual_cost: int = 0
    until: datetime | None = None

    @property
    def size(self) -> int:
        """What the entry counts against the bound."""
        return len(self.data) + len(self.tag) + 40 * len(self.versions) + _ENTRY_BYTES


class Kept(NamedTuple):
    """A kept answer that holds, and this replica's changelog lag as it was checked."""

    entry: CachedResponse
    lag: int | None


class ResponseCache:
    """Kept answers, by operation, variables and segment.

    Args:
        max_bytes: The bound; 0 keeps nothing.
        documents: The document cache, whose versions decide whether an answer holds.
        reader: The changelog reader feeding ``documents``: whether it is current, and
            its lag (for the freshness of an answer).
        cacheable_fields: The fields whose values come from product documents alone
            (``Type.field``): only plans reading nothing else are kept.
        metrics: Where hits and misses are counted.
        clock: Whose moment decides whether a kept answer's prices still apply.
    """

    def __init__(
        self,
        max_bytes: int,
        documents: DocumentCache,
        reader: Callable[[], ReaderState],
        cacheable_fields: Iterable[str],
        metrics: GatewayMetrics,
        clock: Clock,
    ) -> None:
        self.clock = clock
        self._max_bytes = max_bytes
        self._documents = documents
        self._reader = reader
        self._cacheable_fields = frozenset(cacheable_fields)
        # Resolved once: a label lookup per answer is a measurable share of a hit.
        self._hits, self._misses, self._stale = (
            metrics.response_cache_lookups.labels(result) for result in ("hit", "miss", "stale")
        )
        self._bytes_gauge = metrics.response_cache_bytes
        self._evictions = metrics.response_cache_evictions
        self._entries: OrderedDict[Key, CachedResponse] = OrderedDict()
        self._bytes = 0

    def covers(self, plan: ExecutionPlan | None) -> bool:
        """Whether answers of ``plan`` may be kept."""
        if plan is None or self._max_bytes <= 0 or not self._documents.enabled:
            return False
        return plan.fields <= self._cacheable_fields and not plan.arguments & _WAITS

    def get(self, key: Key) -> Kept | None:
        """The kept answer for ``key`` if every product it read is unchanged."""
        entry = self._entries.get(key)
        if entry is None:
            self._misses.inc()
            return None
        expired = entry.until is not None and self.clock.now() >= entry.until
        reader = self._reader()
        if expired or not reader.current or not self._unchanged(entry):
            self._drop(key)
            self._stale.inc()
            return None
        self._entries.move_to_end(key)
        self._hits.inc()
        return Kept(entry, reader.lag)

    def _unchanged(self, entry: CachedResponse) -> bool:
        for product_id, version in entry.versions:
            cached = self._documents.version_of(product_id)
            if cached != version:
                return False
        return True

    def put(
        self, key: Key, versions: dict[str, int | None], entry_of: Callable[[], CachedResponse]
    ) -> None:
        """Keep an answer, if what it read can be checked later.

        Args:
            key: Operation, variables and segment.
            versions: What its loader read; a product not found (``None``) cannot be
                checked against the document cache, so such answers are not kept.
            entry_of: Makes the entry (only called when it is kept).
        """
        if self._max_bytes <= 0 or not versions or None in versions.values():
            return
        if not self._reader().current:
            return
        entry = entry_of()
        if entry.size > self._max_bytes:
            return
        self._drop(key)
        self._entries[key] = entry
        self._bytes += entry.size
        while self._bytes > self._max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size
            self._evictions.inc()
        self._bytes_gauge.set(self._bytes)

    def _drop(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.size
            self._bytes_gauge.set(self._bytes)
