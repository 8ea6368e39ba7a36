"""Session-scoped Kafka and MongoDB, and per-test names so tests never share data.

``SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS`` / ``SHOPWINDOW_MONGODB_URI`` point the suite at
real servers; otherwise it starts the embedded stand-ins once per session.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

from shopwindow.devstack import DevStack
from shopwindow.kafka_admin import create_topics
from shopwindow.kafka_start import start_kafka_client
from shopwindow.materializer.sources import CORE
from shopwindow.mongo import MongoDocument, mongo_client
from shopwindow.settings import GatewaySettings, MaterializerSettings
from shopwindow.topics import TopicNames

TEST_PARTITIONS = 3
# The tests' own reads and writes: a server that stops answering fails the test, in
# time, instead of holding it (and the session's loop) forever.
TEST_MONGODB_TIMEOUT_MS = 20_000

pytest_plugins = ["tests.watchdog"]


@pytest.fixture(autouse=True)
def root_logger_restored() -> Iterator[None]:
    """Puts the root logger back as it was after every test.

    A command run in-process (``cli.main``) installs a handler on the stream the test's
    capture gave it; left behind, that handler writes to a closed file in later tests.
    """
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = saved, level


@pytest.fixture(scope="session")
async def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevStack]:
    """Kafka and MongoDB for the whole session. No test may stop or suspend them."""
    root = tmp_path_factory.mktemp("stack")
    async with DevStack(
        kafka_bootstrap_servers=os.environ.get("SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS"),
        mongodb_uri=os.environ.get("SHOPWINDOW_MONGODB_URI"),
        mongodb_storage_path=root / "mongodb",
        log_dir=root / "logs",
    ) as started:
        yield started


@pytest.fixture
async def stack(
    request: pytest.FixtureRequest, shared_stack: DevStack, tmp_path: Path
) -> AsyncIterator[DevStack]:
    """The servers of this test: the shared ones, or for a test marked ``outage``
    stand-ins of its own, started with their MongoDB data on disk so a restart keeps it."""
    if request.node.get_closest_marker("outage") is None:
        yield shared_stack
        return
    if shared_stack.broker is None or shared_stack.database is None:
        pytest.skip("stops its servers, so it needs stand-ins; this run uses real servers")
    async with DevStack(
        kafka_bootstrap_servers=None,
        mongodb_uri=None,
        mongodb_storage_path=tmp_path / "mongodb",
        log_dir=tmp_path / "logs",
    ) as private:
        yield private


@pytest.fixture
async def topics(stack: DevStack) -> AsyncIterator[TopicNames]:
    """Fresh topics for this test, deleted after it with any other topic of its prefix.

    Every Kafka client's start fetches the metadata of every topic: left in place, a
    thousand tests' topics made the clients of the last tests start many times slower.
    """
    prefix = f"t{uuid.uuid4().hex[:10]}."
    names = TopicNames().with_prefix(prefix)
    await create_topics(
        stack.kafka_bootstrap_servers, names, TEST_PARTITIONS, CORE.all_topics(names)
    )
    yield names
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap_servers)
    await start_kafka_client(admin)
    try:
        mine = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


@pytest.fixture
def database_name() -> str:
    """A fresh database for this test."""
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def mongo(stack: DevStack) -> AsyncIterator[AsyncMongoClient[MongoDocument]]:
    """A client of the test MongoDB, with the project's codecs."""
    client = mongo_client(stack.mongodb_uri, "shopwindow-tests", timeoutMS=TEST_MONGODB_TIMEOUT_MS)
    yield client
    await client.close()


S = TypeVar("S", MaterializerSettings, GatewaySettings)


def settings_factory(
    cls: type[S], stack: DevStack, topics: TopicNames, database: str, defaults: dict[str, Any]
) -> Callable[..., S]:
    """Builds settings of a role for this test's servers, topics and database."""

    def build(**overrides: Any) -> S:
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": stack.kafka_bootstrap_servers,
            "mongodb_uri": stack.mongodb_uri,
            "mongodb_database": database,
            "topics": topics,
            **defaults,
            **overrides,
        }
        return cls.model_validate(values)

    return build


@pytest.fixture
def materializer_settings(
    stack: DevStack, topics: TopicNames, database_name: str
) -> Callable[..., MaterializerSettings]:
    """Builds materializer settings for this test: its own group, quick polls and retries."""
    defaults = {
        "materializer_group_id": f"group-{database_name}",
        "materializer_http_port": 0,
        "poll_timeout_ms": 50,
        "retry_backoff_initial_ms": 50,
        "retry_backoff_max_ms": 500,
    }
    return settings_factory(MaterializerSettings, stack, topics, database_name, defaults)


@pytest.fixture
def gateway_settings(
    stack: DevStack, topics: TopicNames, database_name: str
) -> Callable[..., GatewaySettings]:
    """Builds gateway settings for this test, on a free port."""
    return settings_factory(GatewaySettings, stack, topics, database_name, {"http_port": 0})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that use the servers are integration tests, whether or not they say so.
    for item in items:
        if "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)
