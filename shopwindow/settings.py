"""Settings for each role, read once at start-up from ``SHOPWINDOW_*`` variables.

Each process builds exactly one settings object in the CLI and passes it down; nothing
below the CLI reads the environment.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from shopwindow.kafka_clients import (
    DEFAULT_REQUEST_TIMEOUT_MS,
    GROUP_REBALANCE_TIMEOUT_MS,
    KafkaConnection,
)
from shopwindow.markets import Markets, MarketsError, load_markets, single_market
from shopwindow.topics import TopicNames

ENV_PREFIX = "SHOPWINDOW_"

# 0 asks the kernel for a free port (tests, benchmarks).
Port = Annotated[int, Field(ge=0, le=65535)]

_MIN_HS256_SECRET_BYTES = 32


def _strong_hs256_secret(secret: SecretStr | None) -> SecretStr | None:
    # RFC 7518 3.2: an HS256 key must be at least as long as the hash (256 bits); a
    # shorter one can be brute-forced from any token a client holds.
    if secret is not None and len(secret.get_secret_value().encode()) < _MIN_HS256_SECRET_BYTES:
        raise ValueError(f"must be at least {_MIN_HS256_SECRET_BYTES} bytes")
    return secret


class _Base(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="ignore",
        frozen=True,
    )


class SourceSettings(_Base):
    """What is consumed: the extensions to load (every role loads the same ones) and the
    topic names."""

    extensions: str = Field(
        default="",
        description="Comma-separated `module:attribute` extensions to load besides the "
        "installed `shopwindow.extensions` entry points.",
    )
    topics: TopicNames = Field(default_factory=TopicNames)
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto",
        description="JSON lines, or readable text (colored on a terminal); auto: text when "
        "stderr is a terminal, JSON otherwise.",
    )
    markets_file: Path | None = Field(
        default=None,
        description="The markets (countries, currency, default language, fallback), YAML "
        "or JSON; without it one market serves every country.",
    )
    _markets: Markets = PrivateAttr(default_factory=single_market)

    @model_validator(mode="after")
    def _read_the_markets_file(self) -> SourceSettings:
        # Read once, here, so a bad file stops the role at start like a bad variable.
        try:
            self._markets = load_markets(self.markets_file)
        except MarketsError as error:
            raise ValueError(f"{ENV_PREFIX}MARKETS_FILE: {error}") from None
        return self

    @property
    def markets(self) -> Markets:
        """The markets ``markets_file`` declares."""
        return self._markets


class TopicCreationSettings(_Base):
    """How shopwindow creates a topic (``SHOPWINDOW_CREATE_TOPICS``, ``create-topics``)."""

    topic_partitions: int = Field(
        default=6, ge=1, le=10_000, description="Partitions of each topic shopwindow creates."
    )
    topic_replication_factor: int = Field(
        default=1, ge=1, le=32, description="Replicas of each topic shopwindow creates."
    )


class ConnectionSettings(SourceSettings, TopicCreationSettings):
    """Where the Kafka cluster and the MongoDB database are; shared by every role."""

    create_topics: bool = Field(
        default=False,
        description="At start, create the missing topics shopwindow writes (the "
        "changelog, dead-letter, ledger and progress topics) instead of exiting; "
        "input topics belong to their producers and are never created.",
    )

    kafka_bootstrap_servers: str = Field(
        min_length=1, description="Comma-separated host:port list of Kafka brokers."
    )
    kafka_request_timeout_ms: int = Field(
        default=DEFAULT_REQUEST_TIMEOUT_MS,
        ge=1000,
        le=300_000,
        description="Longest one Kafka request may take; then its connection is dropped "
        "and opened again, so a broker that stopped answering (a half-open connection) "
        f"is noticed. The materializer needs more than {GROUP_REBALANCE_TIMEOUT_MS} "
        "(its group's rebalance timeout).",
    )
    mongodb_uri: SecretStr = Field(description="MongoDB connection string; may hold a password.")
    mongodb_database: str = Field(default="shopwindow", min_length=1)
    pointer_poll_interval_ms: int = Field(
        default=200,
        ge=10,
        le=10_000,
        description="How often the serving pointer is read: how soon a gateway serves a "
        "rebuilt generation, and a live materializer pauses for its switch.",
    )

    @property
    def kafka(self) -> KafkaConnection:
        """The Kafka cluster, as every long-lived client of the role connects to it."""
        return KafkaConnection(self.kafka_bootstrap_servers, self.kafka_request_timeout_ms)


class GatewaySettings(ConnectionSettings):
    """Settings of the GraphQL gateway (``shopwindow serve``)."""

    http_host: str = "127.0.0.1"
    http_port: Port = 8000
    topic_check_timeout_ms: int = Field(
        default=10_000,
        ge=100,
        le=600_000,
        description="How long the gateway waits at start for Kafka to answer its topic "
        "check. A broker that does not answer by then does not stop the start (the "
        "gateway serves from MongoDB); /readyz names a missing topic once it answers.",
    )
    graphiql: bool = Field(default=True, description="Serve GraphiQL to browsers.")
    storefront: bool = Field(
        default=False,
        description="Serve the demo storefront page at /; shopwindow dev turns it on.",
    )
    subgraph: bool = Field(
        default=False,
        description="Serve the Federation v2 subgraph at /subgraph, for a federated router "
        "(with federated tracing); keep it inside the cluster.",
    )
    introspection: bool = Field(default=True, description="Allow schema introspection.")
    max_query_depth: int = Field(default=12, ge=1, le=100)
    max_aliases: int = Field(default=30, ge=1, le=10_000)
    max_tokens: int = Field(default=2000, ge=10, le=1_000_000)
    max_body_bytes: int = Field(default=64 * 1024, ge=256, le=16 * 1024 * 1024)
    max_header_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Largest request head (request line and headers) a client may send; "
        "past it 431 and the connection closes.",
    )
    header_timeout_ms: int = Field(
        default=10_000,
        ge=100,
        le=300_000,
        description="How long a request's head may take to arrive (a WebSocket handshake "
        "too); then 408 and the connection closes.",
    )
    body_timeout_ms: int = Field(
        default=10_000,
        ge=100,
        le=300_000,
        description="How long a request's body may take to arrive after its head; then 408 "
        "and the connection closes.",
    )
    request_timeout_ms: int = Field(default=5000, ge=10, le=120_000)
    mongodb_timeout_ms: int | None = Field(
        default=None,
        ge=1,
        le=120_000,
        description="Longest a MongoDB read may take; then the connection is dropped (a "
        "half-open one is noticed) and the request answers 503 UNAVAILABLE. Below "
        "SHOPWINDOW_REQUEST_TIMEOUT_MS; by default 60 % of it, at most 3000.",
    )
    max_ids_per_query: int = Field(default=100, ge=1, le=10_000)
    max_page_size: int = Field(default=100, ge=1, le=10_000)
    max_query_cost: int = Field(
        default=5000,
        ge=1,
        le=10_000_000,
        description="Estimated result size an operation may have: each field 1, lists "
        "counted by their ids or first.",
    )
    budget_capacity: int = Field(
        default=0,
        ge=0,
        le=1_000_000_000,
        description="Per-client cost budget: the points a full bucket holds (each "
        "operation spends its estimated cost); 0 turns budgets off.",
    )
    budget_restore_per_s: int = Field(
        default=100, ge=1, le=1_000_000_000, description="Points a bucket regains per second."
    )
    budget_max_clients: int = Field(
        default=100_000, ge=1, le=100_000_000, description="Buckets kept per replica at most."
    )
    search_enabled: bool = Field(
        default=True, description="Keep a search index of the changelog in this replica."
    )
    search_index_dir: Path | None = Field(
        default=None,
        description="Where the replica's search index lives; a temporary directory when "
        "unset. It is rebuilt from the changelog at every start.",
    )
    search_commit_interval_ms: int = Field(
        default=200,
        ge=10,
        le=60_000,
        description="How often changes are made searchable; bounds search freshness.",
    )
    search_writer_memory_mb: int = Field(default=64, ge=16, le=4096)
    search_max_query_chars: int = Field(default=256, ge=1, le=10_000)
    search_max_words: int = Field(default=12, ge=1, le=100)
    search_max_offset: int = Field(
        default=10_000, ge=0, le=1_000_000, description="Deepest result a search pages to."
    )
    search_facet_values: int = Field(
        default=50, ge=1, le=1000, description="Values listed per brand or category facet."
    )
    search_price_ranges: list[Decimal] = Field(
        default_factory=lambda: [Decimal(b) for b in ("10", "25", "50", "100", "250", "500")],
        max_length=50,
        description="Boundaries of the price-range facet, ascending.",
    )
    jwt_hs256_secret: Annotated[SecretStr | None, AfterValidator(_strong_hs256_secret)] = Field(
        default=None, description="HS256 shared secret, at least 32 bytes."
    )
    jwt_public_key_file: Path | None = Field(default=None, description="RS256 public key (PEM).")
    jwt_jwks_file: Path | None = Field(default=None, description="RS256 keys as a JWKS file.")
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    ws_max_connections: int = Field(default=20_000, ge=1, description="Per process.")
    ws_max_subscriptions_per_connection: int = Field(default=100, ge=1)
    ws_max_products_per_subscription: int = Field(default=50, ge=1)
    ws_idle_timeout_s: float = Field(default=300, gt=0, description="Without subscriptions.")
    ws_send_timeout_s: float = Field(default=10, gt=0, description="Slower clients are cut.")
    ws_keepalive_interval_s: float = Field(default=15, gt=0)
    ws_connection_init_timeout_s: float = Field(default=10, gt=0, le=300)
    changelog_partition_refresh_s: float = Field(
        default=10, gt=0, le=3600, description="How often to look for new changelog partitions."
    )
    ws_max_message_bytes: int = Field(default=64 * 1024, ge=256, le=16 * 1024 * 1024)
    ws_per_message_deflate: bool = Field(
        default=False,
        description="Compress WebSocket frames (permessage-deflate). Off: live payloads "
        "are small, and compression costs about 60 KiB per connection and one "
        "compression per frame per subscriber.",
    )
    consistency_wait_ms: int = Field(
        default=2000,
        ge=0,
        le=60_000,
        description="Longest wait for the positions a client names in Shopwindow-After or "
        "`after` (read-your-writes); past it, the answer says what is not applied yet.",
    )
    document_cache_mb: int = Field(
        default=64,
        ge=0,
        le=1024 * 1024,
        description="Documents fed by the changelog and served without a database read, "
        "counted by their encoded size (in memory they take a few times more); 0 turns "
        "the cache off.",
    )
    response_cache_mb: int = Field(
        default=32,
        ge=0,
        le=1024 * 1024,
        description="Answers to queries (POSTed, GET or persisted) kept while every product "
        "they read is unchanged in the document cache; 0 turns it off.",
    )
    http_cache_max_age_s: int = Field(
        default=5,
        ge=0,
        le=365 * 24 * 3600,
        description="max-age of GET answers to persisted queries (public for anonymous "
        "viewers, private for authenticated ones).",
    )
    http_cache_stale_while_revalidate_s: int = Field(
        default=30,
        ge=0,
        le=365 * 24 * 3600,
        description="How long a CDN may serve an anonymous answer stale while it revalidates.",
    )
    persisted_query_cache_mb: int = Field(
        default=16,
        ge=0,
        le=4096,
        description="Operation texts kept for automatic persisted queries, per replica.",
    )
    persisted_only: bool = Field(
        default=False,
        description="Trusted documents: run only the operations of persisted_manifest.",
    )
    persisted_manifest: Path | None = Field(
        default=None,
        description="Apollo persisted-query manifest (JSON) of the trusted documents.",
    )

    @field_validator("search_price_ranges")
    @classmethod
    def _ascending_finite_boundaries(cls, value: list[Decimal]) -> list[Decimal]:
        if any(not b.is_finite() for b in value) or value != sorted(set(value)):
            raise ValueError("price-range boundaries must be finite and strictly ascending")
        return value

    @model_validator(mode="after")
    def _database_answers_within_the_request(self) -> GatewaySettings:
        # Else a slow read ends as the request's 504 TIMEOUT, never as 503 UNAVAILABLE.
        if self.mongodb_timeout_ms is not None and (
            self.mongodb_timeout_ms >= self.request_timeout_ms
        ):
            raise ValueError("mongodb_timeout_ms must be below request_timeout_ms")
        return self

    @property
    def mongodb_read_timeout_ms(self) -> int:
        """The MongoDB timeout in force: as set, or 60 % of the request's, at most 3 s."""
        if self.mongodb_timeout_ms is not None:
            return self.mongodb_timeout_ms
        return max(1, min(3000, self.request_timeout_ms * 3 // 5))

    @model_validator(mode="after")
    def _trusted_documents_need_a_manifest(self) -> GatewaySettings:
        if self.persisted_only and self.persisted_manifest is None:
            raise ValueError("persisted_only needs persisted_manifest")
        return self


class MaterializerSettings(ConnectionSettings):
    """Settings of the materializer (``shopwindow materialize``)."""

    materializer_group_id: str = Field(default="shopwindow-materializer", min_length=1)
    materializer_http_host: str = "127.0.0.1"
    materializer_http_port: Port = 9100
    low_stock_threshold: int = Field(default=5, ge=0)
    trending_half_life_s: int = Field(
        default=6 * 3600,
        ge=60,
        le=365 * 24 * 3600,
        description="Half-life of views and orders in the trending score, by event time.",
    )
    batch_max_records: int = Field(default=2000, ge=1, le=100_000)
    poll_timeout_ms: int = Field(default=200, ge=1)
    # Waiting a little for more records makes bigger batches, so more events of a hot
    # product share one write; it adds at most this much to freshness.
    batch_linger_ms: int = Field(default=50, ge=0, le=5000)
    materializer_document_cache_mb: int = Field(
        default=256,
        ge=0,
        le=1 << 20,
        description="Memory the materializer's cache of the documents it wrote last may "
        "take, in MiB (estimated from their JSON); 0 turns it off.",
    )
    document_cache_size: int | None = Field(
        default=None,
        description="Retired: the cache is bounded in bytes now.",
    )
    retry_backoff_initial_ms: int = Field(default=200, ge=1)
    retry_backoff_max_ms: int = Field(default=10_000, ge=1)
    dlq_park_keys: bool = Field(
        default=False,
        description="Once a product has a dead letter from a partition, dead-letter its "
        "later events from that partition too (in order) until the letter is replayed or "
        "discarded.",
    )
    switch_lease_s: float = Field(
        default=30,
        gt=0,
        le=3600,
        description="The longest a live materializer holds still for a rebuild's switch "
        "that does not complete; then it cancels the switch and goes on.",
    )
    mongodb_timeout_ms: int = Field(
        default=20_000,
        ge=100,
        le=600_000,
        description="Longest a MongoDB operation may take (a batch's bulk write among "
        "them); then the connection is dropped and the batch retried uncommitted, so a "
        "half-open connection does not stall the materializer.",
    )
    max_future_skew_s: int = Field(
        default=300,
        ge=0,
        le=365 * 24 * 3600,
        description="How far an event's own time may lie ahead of its Kafka record "
        "timestamp; later-dated events are dead-lettered.",
    )

    @model_validator(mode="after")
    def _requests_outlast_a_rebalance(self) -> MaterializerSettings:
        if self.kafka_request_timeout_ms <= GROUP_REBALANCE_TIMEOUT_MS:
            raise ValueError(
                f"kafka_request_timeout_ms must be above {GROUP_REBALANCE_TIMEOUT_MS}: a "
                "join request may wait that long for a rebalance"
            )
        return self

    @model_validator(mode="after")
    def _retired_count_bound(self) -> MaterializerSettings:
        # Set, it would be ignored: a pod sized by it would meet a bound it never chose.
        if self.document_cache_size is not None:
            raise ValueError(
                "SHOPWINDOW_DOCUMENT_CACHE_SIZE is retired: the materializer's cache is "
                "bounded in bytes by SHOPWINDOW_MATERIALIZER_DOCUMENT_CACHE_MB (default 256)"
            )
        return self


class StatusSettings(ConnectionSettings):
    """Settings of ``shopwindow status``: the servers, and the group whose lag it shows."""

    materializer_group_id: str = Field(default="shopwindow-materializer", min_length=1)
    status_timeout_ms: int = Field(
        default=5000,
        ge=100,
        le=120_000,
        description="How long `shopwindow status` waits for each part (a server, a "
        "gateway) before showing it as unreachable.",
    )


class _DemoTraffic(SourceSettings):
    demo_rate_per_s: float = Field(default=50.0, gt=0, le=100_000)
    demo_products: int = Field(default=200, ge=1, le=1_000_000)


class DemoTrafficSettings(_DemoTraffic):
    """Settings of ``shopwindow demo-traffic``."""

    kafka_bootstrap_servers: str = Field(min_length=1)


class KafkaToolSettings(SourceSettings, TopicCreationSettings):
    """Settings of the Kafka tools: ``produce``, ``dlq`` and ``create-topics``."""

    kafka_bootstrap_servers: str = Field(min_length=1)


class DeadLetterToolSettings(KafkaToolSettings):
    """Settings of ``shopwindow dlq``: with MongoDB, a discard also unparks its key."""

    mongodb_uri: SecretStr | None = Field(
        default=None,
        description="Where parked keys are kept (SHOPWINDOW_DLQ_PARK_KEYS); needed to "
        "discard their letters.",
    )
    mongodb_database: str = Field(default="shopwindow", min_length=1)


class DevStackSettings(_DemoTraffic):
    """Settings of ``shopwindow dev``: real servers when given, embedded stand-ins otherwise."""

    kafka_bootstrap_servers: str | None = None
    mongodb_uri: SecretStr | None = None
    dev_data_dir: Path = Path(".devdata")
    dev_topic_partitions: int = Field(default=4, ge=1, le=64)
    create_topics: bool = Field(
        default=True,
        description="Passed to the roles ``shopwindow dev`` runs: on by default there.",
    )


class ConfigurationError(Exception):
    """Settings could not be read; the message names each variable and its problem."""


def describe_validation_error(error: ValidationError) -> str:
    """Render a pydantic validation error as one line per offending variable.

    Args:
        error: The error raised while building a settings class.

    Returns:
        Lines like ``SHOPWINDOW_HTTP_PORT: Input should be a valid integer``.
    """
    lines = []
    for item in error.errors():
        if not item["loc"]:  # a check across variables names them in its message
            lines.append(item["msg"].removeprefix("Value error, "))
            continue
        variable = ENV_PREFIX + "__".join(str(part) for part in item["loc"]).upper()
        lines.append(f"{variable}: {item['msg']}")
    return "; ".join(lines)


S = TypeVar("S", bound=BaseSettings)


def load(cls: type[S], **overrides: Any) -> S:
    """Build a settings class from the environment, with explicit overrides winning.

    Args:
        cls: The settings class of the role.
        **overrides: Values that beat the environment (``shopwindow dev`` passes the
            addresses of the servers it started).

    Returns:
        The validated settings.

    Raises:
        ConfigurationError: When a variable is missing or invalid.
    """
    try:
        return cls(**overrides)
    except ValidationError as error:
        raise ConfigurationError(describe_validation_error(error)) from None
    except SettingsError as error:
        # A list or mapping setting that is not JSON: pydantic-settings names the field.
        field = re.search(r'field "(\w+)"', str(error))
        name = f"SHOPWINDOW_{field.group(1).upper()}" if field else "a setting"
        raise ConfigurationError(f"{name}: not valid JSON (a list is written [1, 2])") from None
