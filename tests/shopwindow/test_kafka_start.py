"""A client whose start is cancelled at any moment leaves no connection open.

Without ``start_kafka_client`` (plain ``consumer.start()``) this sweep finds a few
unclosed bootstrap connections on the stand-in broker.

The sweep runs against a broker of its own when the suite runs on the stand-ins: every
start fetches the metadata of every topic, and by then the shared broker holds the
topics of a thousand tests. There each sweep took 17 s instead of 1 s, and its 30 ms
covered less of the bootstrap than on a quiet broker. With ``client.start()`` in place
of ``start_kafka_client``, all three sweeps still fail on the quiet broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import warnings
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from shopwindow.devstack import DevStack
from shopwindow.kafka_start import start_kafka_client

CANCEL_AFTER_S = [step * 0.0005 for step in range(60)]  # Through the whole bootstrap.


@pytest.fixture(scope="module")
async def quiet_stack(
    shared_stack: DevStack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DevStack]:
    """A stand-in broker holding no other test's topics; the real cluster when the suite
    runs on real servers. Nothing here stops it but this fixture."""
    if shared_stack.broker is None:
        yield shared_stack
        return
    async with DevStack(
        kafka_bootstrap_servers=None,
        mongodb_uri=shared_stack.mongodb_uri,  # Not used: the shared one, not a new one.
        mongodb_storage_path=None,
        log_dir=tmp_path_factory.mktemp("quiet-broker"),
    ) as started:
        yield started


@pytest.mark.parametrize("kind", ["consumer", "producer", "admin"])
async def test_a_start_cancelled_at_any_moment_leaves_no_connection(
    quiet_stack: DevStack, kind: str
) -> None:
    servers = quiet_stack.kafka_bootstrap_servers
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
