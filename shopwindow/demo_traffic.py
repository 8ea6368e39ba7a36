"""Producing demo traffic to Kafka at a steady rate."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from shopwindow.demo_events import DemoEvents, product_ids
from shopwindow.kafka_start import start_kafka_client
from shopwindow.topics import TopicNames

log = logging.getLogger(__name__)


async def produce_demo_traffic(
    bootstrap_servers: str,
    topics: TopicNames,
    *,
    products: int,
    rate_per_s: float,
    total: int | None = None,
    seed: int | None = None,
) -> int:
    """Publish every product's initial state, then a steady mix of events.

    Args:
        bootstrap_servers: Kafka bootstrap list.
        topics: Topic names.
        products: How many products.
        rate_per_s: Events per second after the initial state.
        total: Stop after this many steady events; ``None`` runs until cancelled.
        seed: For reproducible traffic.

    Returns:
        The number of records produced.
    """
    events = DemoEvents(topics, product_ids(products), random.Random(seed))
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id="shopwindow-demo-traffic",
        acks="all",
        enable_idempotence=False,
        linger_ms=10,
    )
    await start_kafka_client(producer)
    sent = 0
    try:
        for record in events.initial(datetime.now(UTC)):
            await producer.send(record.topic, record.value, key=record.key, headers=record.headers)
            sent += 1
        await producer.flush()
        log.info("demo catalog published", extra={"products": products})
        sent += await produce_steadily(producer, events, rate_per_s, total=total)
    finally:
        await producer.stop()
    return sent


async def produce_steadily(
    producer: AIOKafkaProducer,
    events: DemoEvents,
    rate_per_s: float,
    *,
    total: int | None = None,
    seconds: float | None = None,
) -> int:
    """Produce events of the steady mix at ``rate_per_s``, stamped with the current time.

    Args:
        producer: A started producer.
        events: The generator.
        rate_per_s: Events per second.
        total: Stop after this many events.
        seconds: Stop after this long.

    Returns:
        The number of events produced, all acknowledged.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    sent = 0
    while (total is None or sent < total) and (seconds is None or loop.time() - started < seconds):
        record = events.next(datetime.now(UTC))
        await producer.send(record.topic, record.value, key=record.key, headers=record.headers)
        sent += 1
        # Pace against the start time, so slow sends do not lower the rate.
        delay = started + sent / rate_per_s - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
    await producer.flush()
    return sent
