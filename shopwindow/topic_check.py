"""Whether the topics a role reads and writes exist, and are compacted where the role
needs the latest value per key: checked at start (failing fast, or creating what
shopwindow owns) and by readiness while the role runs.

Like Kafka Streams with its internal topics: a deployment whose Kafka lacks a topic a
newer version added must not start and then degrade silently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from shopwindow.kafka_admin import TopicCreationRefused, create_topics
from shopwindow.kafka_start import start_kafka_client
from shopwindow.materializer.sources import SourceRegistry
from shopwindow.settings import ConfigurationError, TopicCreationSettings
from shopwindow.topics import TopicNames, topic_config

log = logging.getLogger(__name__)

CLEANUP_POLICY = "cleanup.policy"
RETRY_DELAY_S = 0.5


@dataclass(frozen=True)
class TopicNeed:
    """A topic a role uses.

    Attributes:
        name: The topic's name.
        variable: The setting that names it (``SHOPWINDOW_TOPICS__CHANGELOG``).
        config: What shopwindow creates it with; ``{}`` for an input topic.
        owned: Written by shopwindow, so shopwindow may create it.
    """

    name: str
    variable: str
    config: dict[str, str]
    owned: bool

    @property
    def compacted(self) -> bool:
        """Whether the role needs the topic compacted (it keeps the latest per key)."""
        return self.config.get(CLEANUP_POLICY) == "compact"


def _owned(topics: TopicNames, field: str) -> TopicNeed:
    name: str = getattr(topics, field)
    return TopicNeed(name, f"SHOPWINDOW_TOPICS__{field.upper()}", topic_config(topics, name), True)


def materializer_needs(
    registry: SourceRegistry, topics: TopicNames, publishes: bool = True
) -> list[TopicNeed]:
    """The materializer reads every input and writes the changelog, the dead-letter and
    the progress topics (a rebuild's build publishes nothing)."""
    inputs = [
        TopicNeed(name, f"SHOPWINDOW_TOPICS__{topic.setting.upper()}", {}, False)
        for name, topic in registry.by_name(topics).items()
    ]
    outputs = ("changelog", "dead_letter", "progress") if publishes else ()
    return [*inputs, *(_owned(topics, field) for field in outputs)]


def gateway_needs(topics: TopicNames) -> list[TopicNeed]:
    """The gateway follows the changelog, and the progress topic for read-your-writes."""
    return [_owned(topics, "changelog"), _owned(topics, "progress")]


def dead_letter_tool_needs(topics: TopicNames) -> list[TopicNeed]:
    """``shopwindow dlq`` reads the dead letters and writes the ledger of resolutions."""
    return [_owned(topics, "dead_letter"), _owned(topics, "dead_letter_resolved")]


def every_owned_need(topics: TopicNames) -> list[TopicNeed]:
    """Every topic shopwindow writes: what ``shopwindow create-topics`` creates."""
    fields = ("changelog", "dead_letter", "dead_letter_resolved", "progress")
    return [_owned(topics, field) for field in fields]


class TopicsMisconfigured(ConfigurationError):
    """Topics a role needs are missing or misconfigured; one problem per topic, each
    with the command that fixes it (``problems``). Final: the role exits."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def missing(existing: Iterable[str], needs: Iterable[TopicNeed]) -> list[str]:
    """What readiness reports: ``topic <name> missing`` for each absent topic."""
    present = set(existing)
    return [f"topic {need.name} missing" for need in needs if need.name not in present]


def _missing_problem(need: TopicNeed, bootstrap_servers: str) -> str:
    create = f"kafka-topics.sh --bootstrap-server {bootstrap_servers} --create --topic {need.name}"
    create += "".join(f" --config {key}={value}" for key, value in sorted(need.config.items()))
    if need.owned:
        return (
            f"topic {need.name} ({need.variable}) does not exist: run `shopwindow "
            f"create-topics`, start with SHOPWINDOW_CREATE_TOPICS=true, or `{create}`"
        )
    return (
        f"input topic {need.name} ({need.variable}) does not exist: its producers own it; "
        f"create it (`{create}`) or set {need.variable} to the topic they write"
    )


def _policy_problem(need: TopicNeed, policy: str, bootstrap_servers: str) -> str:
    return (
        f"topic {need.name} ({need.variable}) has cleanup.policy={policy}, but shopwindow "
        f"reads the latest record per key from it: `kafka-configs.sh --bootstrap-server "
        f"{bootstrap_servers} --alter --entity-type topics --entity-name {need.name} "
        f"--add-config cleanup.policy=compact`"
    )


async def check_topics(
    bootstrap_servers: str,
    topics: TopicNames,
    needs: Sequence[TopicNeed],
    creation: TopicCreationSettings | None = None,
) -> list[str]:
    """Check that every needed topic exists and is compacted where it must be.

    Args:
        bootstrap_servers: Kafka bootstrap list.
        topics: The topic settings (what created topics are configured with).
        needs: What the role reads and writes.
        creation: When given, missing topics shopwindow owns are created with it.

    Returns:
        The topics this call created.

    Raises:
        TopicsMisconfigured: Naming each missing or misconfigured topic.
        aiokafka.errors.KafkaError: The broker did not answer (retriable).
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="shopwindow")
    await start_kafka_client(admin)
    try:
        existing = set(await admin.list_topics())
        absent = [need for need in needs if need.name not in existing]
        created: list[str] = []
        if creation is not None and any(need.owned for need in absent):
            try:
                created = await create_topics(
                    bootstrap_servers,
                    topics,
                    creation.topic_partitions,
                    [need.name for need in absent if need.owned],
                    creation.topic_replication_factor,
                )
            except TopicCreationRefused as error:
                raise TopicsMisconfigured([f"cannot create topics: {error}"]) from None
            existing |= {need.name for need in absent if need.owned}
            if created:
                log.info("topics created", extra={"topics": created})
        problems = [
            _missing_problem(need, bootstrap_servers) for need in needs if need.name not in existing
        ]
        compacted = [need for need in needs if need.compacted and need.name in existing]
        for need, policy in zip(compacted, await _policies(admin, compacted), strict=True):
            if "compact" not in policy.split(","):
                problems.append(_policy_problem(need, policy, bootstrap_servers))
        if problems:
            raise TopicsMisconfigured(problems)
        return created
    finally:
        await admin.close()


async def check_topics_within(
    timeout_s: float,
    bootstrap_servers: str,
    topics: TopicNames,
    needs: Sequence[TopicNeed],
    creation: TopicCreationSettings | None = None,
) -> bool:
    """``check_topics``, retried while the broker does not answer, for ``timeout_s``.

    For a role that must start during a Kafka outage (the gateway serves from MongoDB):
    a broker silent for the whole window is not a misconfiguration.

    Returns:
        Whether the check ran; False when the broker never answered.

    Raises:
        TopicsMisconfigured: The broker answered, and a topic is missing or misconfigured.
    """
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        remaining_s = deadline - asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(max(remaining_s, 0)):
                await check_topics(bootstrap_servers, topics, needs, creation)
        except (KafkaError, TimeoutError) as error:
            if asyncio.get_running_loop().time() + RETRY_DELAY_S >= deadline:
                log.warning(
                    "kafka did not answer the topic check; starting without it",
                    extra={"error": f"{type(error).__name__}: {error}"},
                )
                return False
            await asyncio.sleep(RETRY_DELAY_S)
            continue
        return True


async def _policies(admin: AIOKafkaAdminClient, needs: Sequence[TopicNeed]) -> list[str]:
    if not needs:
        return []
    # Every entry, not only cleanup.policy: the Tansu stand-in drops the connection on
    # a request that names the configs it wants.
    resources = [ConfigResource(ConfigResourceType.TOPIC, need.name) for need in needs]
    policies: dict[str, str] = {}
    for response in await admin.describe_configs(resources):
        for error_code, error_message, _, name, entries in response.resources:
            if error_code:
                raise TopicsMisconfigured(
                    [f"topic {name}: cannot read its configuration: {error_message}"]
                )
            for entry in entries:
                if entry[0] == CLEANUP_POLICY:
                    policies[name] = entry[1]
    # A broker that lists no value applies its default, which is delete.
    return [policies.get(need.name, "delete") for need in needs]
