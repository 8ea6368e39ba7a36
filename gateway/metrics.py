"""Prometheus metrics of the gateway, on a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shopwindow.request_bounds import REASONS


class GatewayMetrics:
    """Every metric the gateway reports."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "shopwindow_graphql_requests",
            "GraphQL HTTP requests.",
            ["method", "status"],
            registry=self.registry,
        )
        self.latency_seconds = Histogram(
            "shopwindow_graphql_request_seconds",
            "Time to answer a GraphQL HTTP request.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.errors = Counter(
            "shopwindow_graphql_errors",
            "Errors returned to clients, by kind.",
            ["code"],
            registry=self.registry,
        )
        self.loader_batch_size = Histogram(
            "shopwindow_dataloader_batch_size",
            "Keys per DataLoader batch (one MongoDB query each).",
            ["loader"],
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
            registry=self.registry,
        )
        self.cache_lookups = Counter(
            "shopwindow_document_cache_lookups",
            "Product lookups by the document cache's answer: hit, miss, or bypass (the "
            "changelog reader is not current, so MongoDB answers).",
            ["result"],
            registry=self.registry,
        )
        self.cache_evictions = Counter(
            "shopwindow_document_cache_evictions",
            "Documents the cache dropped to stay within its bound.",
            registry=self.registry,
        )
        self.cache_bytes = Gauge(
            "shopwindow_document_cache_bytes",
            "Bytes of the documents the cache holds (their changelog size).",
            registry=self.registry,
        )
        self.cache_documents = Gauge(
            "shopwindow_document_cache_documents",
            "Documents the cache holds.",
            registry=self.registry,
        )
        self.http_refused = Counter(
            "shopwindow_http_refused",
            "Connections closed before their request reached the app, by reason: a head "
            "over SHOPWINDOW_MAX_HEADER_BYTES (431), a head or body slower than its timeout "
            "(408), or a connection idle past the head's timeout (closed).",
            ["reason"],
            registry=self.registry,
        )
        for reason in REASONS:
            self.http_refused.labels(reason)
        self.not_modified = Counter(
            "shopwindow_graphql_not_modified",
            "GET requests for persisted queries answered 304 Not Modified.",
            registry=self.registry,
        )
        self.persisted_query_bytes = Gauge(
            "shopwindow_persisted_query_bytes",
            "Bytes of operation text the automatic persisted query store holds.",
            registry=self.registry,
        )
        self.response_cache_lookups = Counter(
            "shopwindow_response_cache_lookups",
            "Persisted GETs by the response cache's answer: hit, miss, or stale (a product "
            "it read changed, or the changelog reader is not current).",
            ["result"],
            registry=self.registry,
        )
        self.response_cache_evictions = Counter(
            "shopwindow_response_cache_evictions",
            "Answers the response cache dropped to stay within its bound.",
            registry=self.registry,
        )
        self.response_cache_bytes = Gauge(
            "shopwindow_response_cache_bytes",
            "Bytes of the answers the response cache keeps.",
            registry=self.registry,
        )
        self.live_groups = Gauge(
            "shopwindow_live_groups",
            "Groups of like subscriptions (product, operation, segment), each executed "
            "once per change.",
            registry=self.registry,
        )
        self.live_executions = Gauge(
            "shopwindow_live_executions",
            "Group executions since start (a counter; one per change per group).",
            registry=self.registry,
        )
        self.changelog_current = Gauge(
            "shopwindow_changelog_reader_current",
            "1 while the replica's changelog reader has read to the end of every "
            "partition it follows; the caches answer only then.",
            registry=self.registry,
        )
        self.live_members = Gauge(
            "shopwindow_live_members",
            "Live subscribers, once per product each follows.",
            registry=self.registry,
        )
        self.live_pushes = Gauge(
            "shopwindow_live_pushes",
            "Payloads handed to subscribers since start (a counter).",
            registry=self.registry,
        )
        self.search_documents = Gauge(
            "shopwindow_search_documents",
            "Products the replica's search index holds.",
            registry=self.registry,
        )
        self.search_index_delay_seconds = Histogram(
            "shopwindow_search_index_delay_seconds",
            "From a changelog record's timestamp to its product being searchable.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.search_index_ready = Gauge(
            "shopwindow_search_index_ready",
            "1 once the search index has caught up with the changelog.",
            registry=self.registry,
        )
        self.search_index_build_seconds = Gauge(
            "shopwindow_search_index_build_seconds",
            "How long the initial build took, from the first fetch to caught up.",
            registry=self.registry,
        )
