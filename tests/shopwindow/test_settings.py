"""Configuration: one clear line naming the variable, never a traceback."""

from __future__ import annotations

import pytest

from shopwindow.cli import main
from shopwindow.settings import ConfigurationError, GatewaySettings, MaterializerSettings, load
from tests import kinds

REQUIRED = {
    "SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS": "localhost:9092",
    "SHOPWINDOW_MONGODB_URI": "mongodb://localhost:27017",
}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_defaults(environment: pytest.MonkeyPatch) -> None:
    gateway = load(GatewaySettings)
    materializer = load(MaterializerSettings)
    assert (gateway.mongodb_database, gateway.http_port) == ("shopwindow", 8000)
    assert materializer.materializer_group_id == "shopwindow-materializer"
    assert materializer.topics.changelog == "saleproduct.changes"


def test_the_uri_is_a_secret(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("SHOPWINDOW_MONGODB_URI", "mongodb://user:hunter2@db")
    assert "hunter2" not in repr(load(GatewaySettings))


def test_the_retired_count_bound_of_the_cache_is_refused_naming_its_successor(
    environment: pytest.MonkeyPatch,
) -> None:
    # Ignored, it would leave a pod sized by it with a bound it never chose.
    environment.setenv("SHOPWINDOW_DOCUMENT_CACHE_SIZE", "50000")
    with pytest.raises(ConfigurationError) as refused:
        load(MaterializerSettings)
    assert "SHOPWINDOW_DOCUMENT_CACHE_SIZE is retired" in str(refused.value)
    assert "SHOPWINDOW_MATERIALIZER_DOCUMENT_CACHE_MB" in str(refused.value)
    load(GatewaySettings)  # The gateway never read it.


def test_topics_can_be_renamed(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("SHOPWINDOW_TOPICS__INVENTORY", "stock.deltas")
    assert kinds.INVENTORY.name_in(load(MaterializerSettings).topics) == "stock.deltas"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SHOPWINDOW_HTTP_PORT", "eighty", "SHOPWINDOW_HTTP_PORT: Input should be a valid integer"),
        ("SHOPWINDOW_HTTP_PORT", "70000", "SHOPWINDOW_HTTP_PORT: Input should be less than"),
        ("SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS", "", "SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS: String"),
        ("SHOPWINDOW_LOG_LEVEL", "LOUD", "SHOPWINDOW_LOG_LEVEL: String should match"),
        ("SHOPWINDOW_LOG_FORMAT", "xml", "SHOPWINDOW_LOG_FORMAT: Input should be"),
        ("SHOPWINDOW_WS_PER_MESSAGE_DEFLATE", "maybe", "SHOPWINDOW_WS_PER_MESSAGE_DEFLATE"),
        ("SHOPWINDOW_JWT_HS256_SECRET", "x" * 31, "SHOPWINDOW_JWT_HS256_SECRET: Value error, must"),
        ("SHOPWINDOW_MAX_QUERY_COST", "0", "SHOPWINDOW_MAX_QUERY_COST: Input should be greater"),
        ("SHOPWINDOW_MAX_HEADER_BYTES", "1e12", "SHOPWINDOW_MAX_HEADER_BYTES: Input should"),
        ("SHOPWINDOW_MAX_HEADER_BYTES", "100", "SHOPWINDOW_MAX_HEADER_BYTES: Input should be"),
        ("SHOPWINDOW_HEADER_TIMEOUT_MS", "0", "SHOPWINDOW_HEADER_TIMEOUT_MS: Input should be"),
        ("SHOPWINDOW_BODY_TIMEOUT_MS", "86400000", "SHOPWINDOW_BODY_TIMEOUT_MS: Input should"),
        ("SHOPWINDOW_STOREFRONT", "maybe", "SHOPWINDOW_STOREFRONT: Input should be a valid"),
        ("SHOPWINDOW_SUBGRAPH", "yes please", "SHOPWINDOW_SUBGRAPH: Input should be a valid"),
        ("SHOPWINDOW_POINTER_POLL_INTERVAL_MS", "0", "SHOPWINDOW_POINTER_POLL_INTERVAL_MS: Input"),
        ("SHOPWINDOW_BUDGET_CAPACITY", "-1", "SHOPWINDOW_BUDGET_CAPACITY: Input should be greater"),
        ("SHOPWINDOW_BUDGET_RESTORE_PER_S", "0", "SHOPWINDOW_BUDGET_RESTORE_PER_S: Input should"),
        ("SHOPWINDOW_BUDGET_MAX_CLIENTS", "1e99", "SHOPWINDOW_BUDGET_MAX_CLIENTS: Input should"),
        ("SHOPWINDOW_WS_MAX_MESSAGE_BYTES", "10", "SHOPWINDOW_WS_MAX_MESSAGE_BYTES: Input should"),
        ("SHOPWINDOW_WS_CONNECTION_INIT_TIMEOUT_S", "-1", "SHOPWINDOW_WS_CONNECTION_INIT_TIMEOUT"),
        ("SHOPWINDOW_PERSISTED_ONLY", "true", "persisted_only needs persisted_manifest"),
        ("SHOPWINDOW_HTTP_CACHE_MAX_AGE_S", "-5", "SHOPWINDOW_HTTP_CACHE_MAX_AGE_S: Input"),
        ("SHOPWINDOW_PERSISTED_QUERY_CACHE_MB", "1e9", "SHOPWINDOW_PERSISTED_QUERY_CACHE_MB"),
        ("SHOPWINDOW_SEARCH_PRICE_RANGES", "[50, 10]", "strictly ascending"),
        ("SHOPWINDOW_SEARCH_PRICE_RANGES", '["NaN"]', "finite"),
        ("SHOPWINDOW_SEARCH_PRICE_RANGES", "10,20", "SHOPWINDOW_SEARCH_PRICE_RANGES"),
        ("SHOPWINDOW_SEARCH_PRICE_RANGES", "[" + "1," * 60 + "2]", "at most 50"),
        ("SHOPWINDOW_SEARCH_COMMIT_INTERVAL_MS", "0", "SHOPWINDOW_SEARCH_COMMIT_INTERVAL_MS"),
        ("SHOPWINDOW_SEARCH_MAX_QUERY_CHARS", "1e9", "SHOPWINDOW_SEARCH_MAX_QUERY_CHARS"),
    ],
)
def test_invalid_values_are_named(
    environment: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    environment.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=message):
        load(GatewaySettings)


def test_a_missing_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOPWINDOW_MONGODB_URI", raising=False)
    monkeypatch.setenv("SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
    with pytest.raises(ConfigurationError, match="SHOPWINDOW_MONGODB_URI: Field required"):
        load(GatewaySettings)


def test_the_cli_prints_one_line_and_exits_2(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.setenv("SHOPWINDOW_HTTP_PORT", "eighty")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "shopwindow: configuration error: SHOPWINDOW_HTTP_PORT: Input should be a valid integer,"
        " unable to parse string as an integer"
    ]


def test_a_long_enough_hs256_secret_is_taken(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("SHOPWINDOW_JWT_HS256_SECRET", "é" * 16)  # 32 bytes, 16 characters
    secret = load(GatewaySettings).jwt_hs256_secret
    assert secret is not None and secret.get_secret_value() == "é" * 16


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SHOPWINDOW_MAX_FUTURE_SKEW_S", "-1"),
        ("SHOPWINDOW_MAX_FUTURE_SKEW_S", "1e99"),
        ("SHOPWINDOW_SWITCH_LEASE_S", "0"),
        ("SHOPWINDOW_MATERIALIZER_DOCUMENT_CACHE_MB", "-1"),
        ("SHOPWINDOW_MATERIALIZER_DOCUMENT_CACHE_MB", "9" * 30),
        ("SHOPWINDOW_MATERIALIZER_DOCUMENT_CACHE_MB", "0.5"),
        ("SHOPWINDOW_SWITCH_LEASE_S", "nan"),
        ("SHOPWINDOW_DLQ_PARK_KEYS", "maybe"),
        ("SHOPWINDOW_CREATE_TOPICS", "sometimes"),
        ("SHOPWINDOW_TOPIC_PARTITIONS", "0"),
        ("SHOPWINDOW_TOPIC_REPLICATION_FACTOR", "-3"),
        # Names Kafka refuses: caught when read, not when first used.
        ("SHOPWINDOW_TOPICS__CHANGELOG", "changes with spaces"),
        ("SHOPWINDOW_TOPICS__PROGRESS", ".."),
        ("SHOPWINDOW_TOPICS__DEAD_LETTER", "x" * 250),
        ("SHOPWINDOW_TOPICS__INVENTORY", "stock/deltas"),
        ("SHOPWINDOW_TOPICS__CATALOG", "\udcff"),
        ("SHOPWINDOW_TOPICS__SOURCE_PREFIX", "team a."),
    ],
)
def test_invalid_materializer_values_are_named(
    environment: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    environment.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=variable):
        load(MaterializerSettings)
