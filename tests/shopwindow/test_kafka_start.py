"""A client whose start is cancelled at any moment leaves no connection open.

Without ``start_kafka_client`` (plain ``consumer.start()``) this sweep finds a few
unclosed bootstrap connections on the stand-in broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import warnings

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from shopwindow.devstack import DevStack
from shopwindow.kafka_start import start_kafka_client

CANCEL_AFTER_S = [step * 0.0005 for step in range(60)]  # Through the whole bootstrap.


@pytest.mark.parametrize("kind", ["consumer", "producer", "admin"])
async def test_a_start_cancelled_at_any_moment_leaves_no_connection(
    stack: DevStack, kind: str
) -> None:
    servers = stack.kafka_bootstrap_servers
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for delay_s in CANCEL_AFTER_S:
            client: AIOKafkaConsumer | AIOKafkaProducer | AIOKafkaAdminClient = {
                "consumer": lambda: AIOKafkaConsumer(bootstrap_servers=servers),
                "producer": lambda: AIOKafkaProducer(bootstrap_servers=servers),
                "admin": lambda: AIOKafkaAdminClient(bootstrap_servers=servers),
            }[kind]()
            starting = asyncio.ensure_future(start_kafka_client(client))
            await asyncio.sleep(delay_s)
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            await client.close() if isinstance(client, AIOKafkaAdminClient) else await client.stop()
            del client, starting
        # Once, not per client: unclosed connections warn when their cycles are
        # collected, and a collection per client cost most of this test in the full
        # suite's large heap.
        gc.collect()
    unclosed = [str(w.message) for w in caught if "Unclosed" in str(w.message)]
    assert unclosed == []


async def test_a_start_that_is_not_cancelled_starts(stack: DevStack) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers)
    try:
        await start_kafka_client(producer)
        await producer.send_and_wait("shopwindow-kafka-start", b"x")
    finally:
        await producer.stop()
