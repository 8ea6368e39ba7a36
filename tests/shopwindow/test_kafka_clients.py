"""Every long-lived Kafka client of the roles notices a broker that stopped answering.

A half-open connection (the fault proxy keeps the socket open and forwards nothing, as a
network partition leaves it) is noticed only by a request's timeout. Each test freezes
the connections of one kind of client and shows that it comes back on a new connection
within a few request timeouts, not after aiokafka's default 40 s. The broker is a
stand-in of this module's own, advertising the proxy, so every connection goes through
it; against real servers it is the same client code, so the test needs no real broker.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from shopwindow.devstack.tansu import TansuBroker
from shopwindow.kafka_clients import GROUP_REBALANCE_TIMEOUT_MS, KafkaConnection
from shopwindow.kafka_start import start_kafka_client
from shopwindow.materializer.publishing import new_producer
from shopwindow.settings import MaterializerSettings
from tests.faults.proxy import FaultProxy

REQUEST_TIMEOUT_MS = 1500
# Generous against a loaded machine, and still far below aiokafka's default of 40 s: a
# client built without the setting fails here.
NOTICED_WITHIN_S = 6 * REQUEST_TIMEOUT_MS / 1000


@pytest.fixture(scope="module")
async def proxy(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FaultProxy]:
    made: FaultProxy

    def upstream() -> tuple[str, int]:
        port = broker.process.spawned_port
        if port is None:
            raise ConnectionRefusedError("broker not started")
        return ("127.0.0.1", port)

    made = FaultProxy(upstream)
    await made.start()
    broker = TansuBroker(Path(tmp_path_factory.mktemp("tansu")), advertised_address=made.address)
    await broker.start()
    try:
        yield made
    finally:
        await broker.stop()
        await made.stop()


@pytest.fixture
async def topic(proxy: FaultProxy) -> str:
    name = f"dead-peer-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=proxy.address, request_timeout_ms=10_000)
    await start_kafka_client(admin)
    try:
        await admin.create_topics([NewTopic(name, 1, 1)])
    finally:
        await admin.close()
    return name


async def written(producer: AIOKafkaProducer, topic: str, value: bytes) -> float:
    """Send until the broker acknowledges; the seconds it took. A send the dead
    connection ate fails with the client's timeout, and the next goes out anew."""
    started = time.monotonic()
    async with asyncio.timeout(NOTICED_WITHIN_S):
        for _ in range(20):
            try:
                await producer.send_and_wait(topic, value)
                return time.monotonic() - started
            except KafkaError:
                continue
    raise AssertionError("never acknowledged")


async def read_until(consumer: AIOKafkaConsumer, value: bytes, since: float) -> float:
    """Poll until ``value`` arrives; the seconds it took from ``since`` (monotonic)."""
    async with asyncio.timeout(NOTICED_WITHIN_S):
        while True:
            batches = await consumer.getmany(timeout_ms=100)
            if any(r.value == value for records in batches.values() for r in records):
                return time.monotonic() - since


async def test_the_changelog_producer_notices_a_half_open_broker(
    proxy: FaultProxy, topic: str
) -> None:
    producer = new_producer(KafkaConnection(proxy.address, REQUEST_TIMEOUT_MS), "test")
    await start_kafka_client(producer)
    try:
        await written(producer, topic, b"before")
        assert proxy.freeze_all() >= 1
        took_s = await written(producer, topic, b"after")
        # It waited out one timeout at least: the freeze took hold.
        assert took_s >= REQUEST_TIMEOUT_MS / 1000 * 0.9
    finally:
        await producer.stop()


async def test_a_changelog_reader_notices_a_half_open_broker(proxy: FaultProxy, topic: str) -> None:
    kafka = KafkaConnection(proxy.address, REQUEST_TIMEOUT_MS)
    # As the gateway's readers build theirs: assigned partitions, short fetch waits.
    consumer = kafka.consumer(
        client_id="test",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
    )
    producer = AIOKafkaProducer(bootstrap_servers=proxy.address, enable_idempotence=False)
    await start_kafka_client(consumer)
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await start_kafka_client(producer)
        await written(producer, topic, b"before")
        await read_until(consumer, b"before", time.monotonic())
        assert proxy.freeze_all() >= 2
        frozen_at = time.monotonic()
        await producer.stop()
        # A producer of its own, on new connections, writes what the reader must get.
        producer = AIOKafkaProducer(bootstrap_servers=proxy.address, enable_idempotence=False)
        await start_kafka_client(producer)
        await written(producer, topic, b"after")
        took_s = await read_until(consumer, b"after", frozen_at)
        assert took_s >= REQUEST_TIMEOUT_MS / 1000 * 0.9
    finally:
        await producer.stop()
        await consumer.stop()


@pytest.mark.parametrize("request_timeout_ms", [1000, GROUP_REBALANCE_TIMEOUT_MS])
def test_a_group_member_cannot_time_out_before_a_rebalance_would(request_timeout_ms: int) -> None:
    with pytest.raises(ValidationError, match="kafka_request_timeout_ms"):
        MaterializerSettings(
            kafka_bootstrap_servers="127.0.0.1:1",
            mongodb_uri="mongodb://127.0.0.1:1",
            kafka_request_timeout_ms=request_timeout_ms,
        )
    with pytest.raises(ValueError, match="rebalance timeout"):
        KafkaConnection("127.0.0.1:1", request_timeout_ms).consumer(client_id="t", group_id="g")
