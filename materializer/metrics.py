"""Prometheus metrics of the materializer, on a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shopwindow.materializer.errors import reason_kind

# A label's values must stay few: reasons are the producers' data.
MAX_REASON_KINDS = 50


class MaterializerMetrics:
    """Every metric the materializer reports.

    Args:
        registry: Where to register; a fresh one per process (and per test).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.consumed = Counter(
            "shopwindow_events_consumed",
            "Records read from source topics.",
            ["topic"],
            registry=self.registry,
        )
        self.applied = Counter(
            "shopwindow_events_applied",
            "Events that changed a document.",
            ["topic"],
            registry=self.registry,
        )
        self.redelivered = Counter(
            "shopwindow_events_redelivered",
            "Events skipped because a document had applied them already.",
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "shopwindow_events_dead_lettered",
            "Records sent to the dead-letter topic, by source topic and the kind of reason "
            f"(the first {MAX_REASON_KINDS} kinds a process sees; the rest as 'other').",
            ["topic", "reason"],
            registry=self.registry,
        )
        self._reason_kinds: set[str] = set()
        self.publish_refused = Counter(
            "shopwindow_records_refused",
            "Records the broker refused for good (too large, corrupt), by target topic.",
            ["topic"],
            registry=self.registry,
        )
        self.batch_records = Histogram(
            "shopwindow_batch_records",
            "Records per consumed batch.",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
            registry=self.registry,
        )
        self.documents_written = Counter(
            "shopwindow_documents_written",
            "Documents inserted or updated.",
            registry=self.registry,
        )
        self.write_seconds = Histogram(
            "shopwindow_write_seconds",
            "Duration of one bulk write.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.freshness_seconds = Histogram(
            "shopwindow_freshness_seconds",
            "Time from an event's own timestamp to its write into MongoDB.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "shopwindow_consumer_lag",
            "Records behind the end of each assigned partition.",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.retries = Counter(
            "shopwindow_batch_retries",
            "Batches retried because a dependency was unavailable.",
            ["dependency"],
            registry=self.registry,
        )
        self.last_commit = Gauge(
            "shopwindow_last_commit_timestamp_seconds",
            "When this member last committed its offsets (Unix time); with the lag, how "
            "long a member has been stuck.",
            registry=self.registry,
        )
        self.switch_holding_seconds = Gauge(
            "shopwindow_switch_holding_seconds",
            "How long this member has held still for a rebuild's switch; 0 when none runs.",
            registry=self.registry,
        )
        self.switch_lease_seconds = Gauge(
            "shopwindow_switch_lease_seconds",
            "SHOPWINDOW_SWITCH_LEASE_S: how long a switch may run without a beat.",
            registry=self.registry,
        )
        self.cache_bytes = Gauge(
            "shopwindow_materializer_document_cache_bytes",
            "Memory the documents the cache holds take (estimated from their JSON), at "
            "most SHOPWINDOW_MATERIALIZER_DOCUMENT_CACHE_MB.",
            registry=self.registry,
        )
        self.cache_documents = Gauge(
            "shopwindow_materializer_document_cache_documents",
            "Documents the cache holds.",
            registry=self.registry,
        )
        self.ready = Gauge(
            "shopwindow_ready",
            "1 while MongoDB and Kafka answer, 0 during an outage.",
            registry=self.registry,
        )

    def count_dead_letter(self, topic: str, reason: str) -> None:
        """Count one dead letter of ``topic`` under its reason's kind, the kinds bounded.

        Args:
            topic: The source topic.
            reason: The whole reason.
        """
        kind = reason_kind(reason)
        if kind not in self._reason_kinds:
            if len(self._reason_kinds) >= MAX_REASON_KINDS:
                kind = "other"
            else:
                self._reason_kinds.add(kind)
        self.dead_lettered.labels(topic, kind).inc()
