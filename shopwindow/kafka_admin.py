"""Creating topics: used by the embedded dev stack, the tests and the benchmarks."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shopwindow.kafka_start import start_kafka_client
from shopwindow.topics import TopicNames, topic_config


class TopicCreationRefused(Exception):
    """The broker refused to create a topic (a policy, too few brokers for the replicas);
    the message names each topic and the broker's reason."""


async def create_topics(
    bootstrap_servers: str,
    topics: TopicNames,
    partitions: int,
    names: Iterable[str],
    replication_factor: int = 1,
) -> list[str]:
    """Create every named topic that does not exist yet.

    Args:
        bootstrap_servers: Kafka bootstrap list.
        topics: The topic settings (the outputs get their configuration from them).
        partitions: Partition count of each new topic.
        names: The topics to create.
        replication_factor: Replicas of each new topic.

    Returns:
        The names this call created (another process may have created the rest).

    Raises:
        TopicCreationRefused: When the broker refused a topic.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await start_kafka_client(admin)
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name,
                num_partitions=partitions,
                replication_factor=replication_factor,
                topic_configs=topic_config(topics, name),
            )
            for name in names
            if name not in existing
        ]
        if not wanted:
            return []
        response = await admin.create_topics(wanted)
        created, refused = [], []
        for entry in response.topic_errors:  # (name, code[, message]) by version
            name, code = entry[0], entry[1]
            if code == 0:
                created.append(name)
            elif code != TopicAlreadyExistsError.errno:  # Another process was first.
                message = entry[2] if len(entry) > 2 and entry[2] else f"error {code}"
                refused.append(f"{name}: {message}")
        if refused:
            raise TopicCreationRefused("; ".join(refused))
        return created
    finally:
        await admin.close()
