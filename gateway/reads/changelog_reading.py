"""What every changelog reader of the gateway does alike: keep a consumer running
through broker failures, wait for the topic, and find partitions added later.

The live hub reads from the end and the search feed from the beginning; both read
without a consumer group and restart their consumer after a failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from shopwindow.kafka_start import start_kafka_client
from shopwindow.tasks import BackgroundLoop

log = logging.getLogger(__name__)

RESTART_DELAY_S = 1.0


def reading_loop(
    name: str,
    make_consumer: Callable[[], AIOKafkaConsumer],
    read: Callable[[AIOKafkaConsumer], Awaitable[None]],
    cleanup: Callable[[], None] = lambda: None,
) -> BackgroundLoop:
    """A loop running ``read`` over a started consumer, from ``start()`` until
    ``stop()``: after a failure the consumer is stopped, ``cleanup`` runs, and a new
    consumer reads again a second later.

    Args:
        name: Names the reader in logs and task dumps.
        make_consumer: Builds a consumer (not started).
        read: Reads until it fails.
        cleanup: Forgets what only held for the stopped consumer.

    Returns:
        The loop, not started.
    """

    async def read_until_failure() -> None:
        consumer = make_consumer()
        try:
            await start_kafka_client(consumer)
            await read(consumer)
        except KafkaError as error:
            log.warning(f"{name} restarting", extra={"error": str(error)})
            await asyncio.sleep(RESTART_DELAY_S)
        except Exception:
            # A reader must not stall silently: log, then read again.
            log.exception(f"{name} failed; restarting")
            await asyncio.sleep(RESTART_DELAY_S)
        finally:
            cleanup()
            await consumer.stop()

    return BackgroundLoop(name, read_until_failure)


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic``, waiting until it exists."""
    while True:
        await consumer.topics()  # Refreshes the metadata.
        found = consumer.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, p) for p in sorted(found)]
        log.warning("changelog topic not found; waiting", extra={"topic": topic})
        await asyncio.sleep(RESTART_DELAY_S)


async def added_partitions(
    consumer: AIOKafkaConsumer, topic: str, assigned: set[TopicPartition]
) -> set[TopicPartition]:
    """Partitions of ``topic`` created since ``assigned`` was read from the metadata."""
    await consumer.topics()  # Refreshes the metadata.
    found = {TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()}
    return found - assigned
