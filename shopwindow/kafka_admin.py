"""Creating topics: used by the embedded dev stack, the tests and the benchmarks."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shopwindow.kafka_start import start_kafka_client
from shopwindow.topics import TopicNames, topic_config


async def create_topics(
    bootstrap_servers: str, topics: TopicNames, partitions: int, names: Iterable[str]
) -> None:
    """Create every shopwindow topic that does not exist yet.

    Args:
        bootstrap_servers: Kafka bootstrap list.
        topics: The topic settings (the outputs get their configuration from them).
        partitions: Partition count of created topics.
        names: The topics to create.
        partitions: Partition count of each new topic.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await start_kafka_client(admin)
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name,
                num_partitions=partitions,
                replication_factor=1,
                topic_configs=topic_config(topics, name),
            )
            for name in names
            if name not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # Another process created them between our list and create.
    finally:
        await admin.close()
