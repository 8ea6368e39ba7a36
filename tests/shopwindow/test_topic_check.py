"""The topics a role needs are checked when it starts, and while it runs by readiness.

A deployment whose Kafka lacks a topic that a newer version added must not start and
then degrade silently: each role names every missing or misconfigured topic, with the
command that fixes it, or creates the topics shopwindow owns when told to.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from pymongo import AsyncMongoClient

from shopwindow.devstack import DevStack
from shopwindow.gateway.app import create_app
from shopwindow.http_server import HttpServer
from shopwindow.kafka_admin import create_topics
from shopwindow.kafka_start import start_kafka_client
from shopwindow.materializer.service import Materializer
from shopwindow.materializer.sources import CORE
from shopwindow.mongo import MongoDocument
from shopwindow.settings import GatewaySettings, MaterializerSettings, TopicCreationSettings
from shopwindow.topic_check import (
    TopicsMisconfigured,
    check_topics,
    gateway_needs,
    materializer_needs,
    missing,
)
from shopwindow.topics import TopicNames

CREATION = TopicCreationSettings(topic_partitions=2, topic_replication_factor=1)


@pytest.fixture
def bare_topics() -> TopicNames:
    """Names no test has created yet."""
    return TopicNames().with_prefix(f"tc{uuid.uuid4().hex[:10]}.")


@pytest.fixture
async def admin(stack: DevStack) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap_servers)
    await start_kafka_client(client)
    yield client
    await client.close()


async def cleanup_policy(admin: AIOKafkaAdminClient, name: str) -> str:
    [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    [(_, _, _, _, entries)] = response.resources
    return next((value for key, value, *_ in entries if key == "cleanup.policy"), "delete")


def inputs(topics: TopicNames) -> list[str]:
    return list(CORE.topic_names(topics))


# --- what each role needs (pure) ---------------------------------------------------


def test_each_role_needs_what_it_reads_and_writes() -> None:
    topics = TopicNames()
    materializer = {need.name: need for need in materializer_needs(CORE, topics)}
    assert set(materializer) == {*inputs(topics), "saleproduct.changes", "shopwindow.dlq"} | {
        "shopwindow.progress"
    }
    assert {name for name, need in materializer.items() if need.compacted} == {
        "saleproduct.changes",
        "shopwindow.progress",
    }
    assert {name for name, need in materializer.items() if not need.owned} == set(inputs(topics))
    # A rebuild's build publishes nothing: it needs only what it reads.
    assert [n.name for n in materializer_needs(CORE, topics, publishes=False)] == inputs(topics)
    assert [(n.name, n.compacted) for n in gateway_needs(topics)] == [
        ("saleproduct.changes", True),
        ("shopwindow.progress", True),
    ]
    assert materializer["inventory"].variable == "SHOPWINDOW_TOPICS__INVENTORY"


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ({"saleproduct.changes", "shopwindow.progress"}, []),
        ({"saleproduct.changes"}, ["topic shopwindow.progress missing"]),
        (set(), ["topic saleproduct.changes missing", "topic shopwindow.progress missing"]),
        # A name that differs only in case is another topic.
        ({"SALEPRODUCT.CHANGES", "shopwindow.progress"}, ["topic saleproduct.changes missing"]),
    ],
)
def test_readiness_names_each_missing_topic(existing: set[str], expected: list[str]) -> None:
    assert missing(existing, gateway_needs(TopicNames())) == expected


# --- at start ------------------------------------------------------------------------


async def test_every_missing_topic_is_named_with_the_command_that_fixes_it(
    stack: DevStack, bare_topics: TopicNames
) -> None:
    needs = materializer_needs(CORE, bare_topics)
    with pytest.raises(TopicsMisconfigured) as raised:
        await check_topics(stack.kafka_bootstrap_servers, bare_topics, needs)
    problems = raised.value.problems
    assert len(problems) == len(needs)
    for need, problem in zip(needs, problems, strict=True):
        assert need.name in problem and need.variable in problem
        assert ("shopwindow create-topics" in problem) == need.owned
        assert ("its producers own it" in problem) == (not need.owned)
    progress = next(p for p in problems if bare_topics.progress in p)
    assert "--config cleanup.policy=compact" in progress


async def test_a_topic_that_must_be_compacted_but_is_not_is_named(
    stack: DevStack, bare_topics: TopicNames, admin: AIOKafkaAdminClient
) -> None:
    owned = [bare_topics.changelog, bare_topics.dead_letter]
    await create_topics(
        stack.kafka_bootstrap_servers, bare_topics, 1, [*inputs(bare_topics), *owned]
    )
    # Created by hand, as an operator might: no cleanup policy, so the broker's delete.
    await admin.create_topics([NewTopic(bare_topics.progress, 1, 1)])
    with pytest.raises(TopicsMisconfigured) as raised:
        await check_topics(
            stack.kafka_bootstrap_servers, bare_topics, materializer_needs(CORE, bare_topics)
        )
    [problem] = raised.value.problems
    assert f"topic {bare_topics.progress} (SHOPWINDOW_TOPICS__PROGRESS)" in problem
    assert "cleanup.policy=delete" in problem
    assert f"kafka-configs.sh --bootstrap-server {stack.kafka_bootstrap_servers}" in problem


async def test_creation_makes_what_shopwindow_writes_but_never_an_input(
    stack: DevStack, bare_topics: TopicNames, admin: AIOKafkaAdminClient
) -> None:
    needs = materializer_needs(CORE, bare_topics)
    with pytest.raises(TopicsMisconfigured) as raised:
        await check_topics(stack.kafka_bootstrap_servers, bare_topics, needs, CREATION)
    # Only the inputs are named; the outputs were created, configured.
    assert len(raised.value.problems) == len(inputs(bare_topics))
    assert all("its producers own it" in p for p in raised.value.problems)
    existing = set(await admin.list_topics())
    assert {bare_topics.changelog, bare_topics.dead_letter, bare_topics.progress} <= existing
    assert not set(inputs(bare_topics)) & existing
    assert await cleanup_policy(admin, bare_topics.progress) == "compact"
    assert await cleanup_policy(admin, bare_topics.changelog) == "compact"


async def test_two_replicas_creating_the_same_topics_at_once_both_start(
    stack: DevStack, bare_topics: TopicNames, admin: AIOKafkaAdminClient
) -> None:
    needs = gateway_needs(bare_topics)
    created = await asyncio.gather(
        *(check_topics(stack.kafka_bootstrap_servers, bare_topics, needs, CREATION) for _ in "ab")
    )
    # Each topic was created once, by whichever replica came first.
    assert sorted(name for names in created for name in names) == sorted(n.name for n in needs)
    assert await cleanup_policy(admin, bare_topics.progress) == "compact"


async def test_the_materializer_refuses_to_start_and_writes_nothing(
    materializer_settings: Callable[..., MaterializerSettings],
    bare_topics: TopicNames,
    stack: DevStack,
    mongo: AsyncMongoClient[MongoDocument],
    database_name: str,
) -> None:
    await create_topics(stack.kafka_bootstrap_servers, bare_topics, 1, inputs(bare_topics))
    with pytest.raises(TopicsMisconfigured) as raised:
        async with Materializer(materializer_settings(topics=bare_topics)):
            pass
    assert len(raised.value.problems) == 3  # changelog, dead-letter, progress
    assert database_name not in await mongo.list_database_names()


async def test_the_gateway_refuses_to_start_naming_the_topic(
    gateway_settings: Callable[..., GatewaySettings], bare_topics: TopicNames, stack: DevStack
) -> None:
    await create_topics(stack.kafka_bootstrap_servers, bare_topics, 1, [bare_topics.changelog])
    server = HttpServer(create_app(gateway_settings(topics=bare_topics)), "127.0.0.1", 0)
    with pytest.raises(TopicsMisconfigured, match=f"topic {bare_topics.progress} "):
        await server.start()
    await server.stop()


async def test_a_gateway_whose_kafka_does_not_answer_starts_and_says_so(
    gateway_settings: Callable[..., GatewaySettings],
) -> None:
    # A port we hold bound but never listen on refuses every connection: the broker is
    # down while the gateway starts. The gateway serves from MongoDB meanwhile; its
    # readiness says what is missing.
    refusing = socket.socket()
    refusing.bind(("127.0.0.1", 0))
    port = refusing.getsockname()[1]
    settings = gateway_settings(
        kafka_bootstrap_servers=f"127.0.0.1:{port}", topic_check_timeout_ms=300
    )
    server = HttpServer(create_app(settings), "127.0.0.1", 0)
    try:
        await server.start()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            response = await http.get("/readyz")
        assert response.status_code == 503 and "kafka" in response.json()["failing"]
    finally:
        await server.stop()
        refusing.close()


# --- while running -------------------------------------------------------------------


async def ready_failing(http: httpx.AsyncClient, expected: str | None) -> list[str]:
    """What /readyz lists as failing, once ``expected`` is among it (None: once ready)."""
    failing: list[str] = []
    for _ in range(100):  # 10 s
        response = await http.get("/readyz")
        failing = response.json().get("failing", [])
        if (expected in failing) if expected else response.status_code == 200:
            return failing
        await asyncio.sleep(0.1)
    return failing


async def test_a_topic_deleted_while_running_fails_readiness_with_its_name(
    materializer_settings: Callable[..., MaterializerSettings],
    gateway_settings: Callable[..., GatewaySettings],
    topics: TopicNames,
    admin: AIOKafkaAdminClient,
    stack: DevStack,
) -> None:
    gone = f"topic {topics.progress} missing"
    gateway = HttpServer(create_app(gateway_settings()), "127.0.0.1", 0)
    await gateway.start()
    try:
        async with (
            Materializer(materializer_settings()) as materializer,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as gateway_http,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{materializer.http_port}") as probe,
        ):
            assert await ready_failing(gateway_http, None) == []
            assert await ready_failing(probe, None) == []
            await admin.delete_topics([topics.progress])
            assert gone in await ready_failing(gateway_http, gone)
            assert gone in await ready_failing(probe, gone)
            # Put back, configured: both are ready again.
            await create_topics(stack.kafka_bootstrap_servers, topics, 1, [topics.progress])
            assert await ready_failing(gateway_http, None) == []
            assert await ready_failing(probe, None) == []
    finally:
        await gateway.stop()


# --- the commands --------------------------------------------------------------------


def run_cli(stack: DevStack, topics: TopicNames, *args: str, **env: str) -> Any:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SHOPWINDOW_")}
    environment |= {
        "SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
        "SHOPWINDOW_MONGODB_URI": stack.mongodb_uri,
        "SHOPWINDOW_TOPICS__SOURCE_PREFIX": topics.source_prefix,
        "SHOPWINDOW_TOPICS__CHANGELOG": topics.changelog,
        "SHOPWINDOW_TOPICS__DEAD_LETTER": topics.dead_letter,
        "SHOPWINDOW_TOPICS__DEAD_LETTER_RESOLVED": topics.dead_letter_resolved,
        "SHOPWINDOW_TOPICS__PROGRESS": topics.progress,
        "SHOPWINDOW_MATERIALIZER_HTTP_PORT": "0",
        "SHOPWINDOW_LOG_FORMAT": "json",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "shopwindow.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_the_materializer_command_exits_2_naming_each_topic(
    stack: DevStack, bare_topics: TopicNames
) -> None:
    done = await asyncio.to_thread(run_cli, stack, bare_topics, "materialize")
    assert done.returncode == 2, done.stderr
    said = done.stderr.strip().splitlines()[-1]
    assert said.startswith("shopwindow: configuration error: ")
    assert bare_topics.progress in said and bare_topics.changelog in said


async def test_create_topics_makes_them_once_and_the_roles_then_start(
    stack: DevStack, bare_topics: TopicNames, admin: AIOKafkaAdminClient
) -> None:
    first = await asyncio.to_thread(run_cli, stack, bare_topics, "create-topics", "--with-inputs")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("created 10 of 10 topics")
    again = await asyncio.to_thread(run_cli, stack, bare_topics, "create-topics")
    assert again.returncode == 0 and again.stdout.startswith("created 0 of 4 topics: none")
    assert await cleanup_policy(admin, bare_topics.dead_letter_resolved) == "compact"
    await check_topics(
        stack.kafka_bootstrap_servers, bare_topics, materializer_needs(CORE, bare_topics)
    )
