"""Creating topics: used by the embedded dev stack, the tests and the benchmarks."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shopwindow.topics import TopicNames, topic_config


async def create_topics(bootstrap_servers: str, topics: TopicNames, partitions: int) -> None:
    """Create every shopwindow topic that does not exist yet.

    Args:
        bootstrap_servers: Kafka bootstrap list.
        topics: The names to create.
        partitions: Partition count of each new topic.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name,
                num_partitions=partitions,
                replication_factor=1,
                topic_configs=topic_config(topics, name),
            )
            for name in topics.all
            if name not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # Another process created them between our list and create.
    finally:
        await admin.close()
