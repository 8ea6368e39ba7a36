"""``make chaos``: materializer processes killed with SIGKILL at random points.

Two members of one consumer group fold a stream of 50,000 events while, 100 times, a
random member is killed (no cleanup runs) and started again. Afterwards every document
must equal what one clean, uninterrupted pass makes of the same records, versions and
counters included: exactly once in effect under at-least-once delivery and crashes.
Run as ``python -m tests.chaos``; the stand-ins start unless real servers are given.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import signal
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from bench.common import servers
from bench.materializer_memory import soak_stream
from shopwindow.demo_events import DemoRecord
from shopwindow.devstack import DevStack
from shopwindow.document import COLLECTION, public_view
from shopwindow.kafka_admin import create_topics
from shopwindow.materializer.service import Materializer
from shopwindow.materializer.sources import CORE
from shopwindow.mongo import mongo_client
from shopwindow.settings import MaterializerSettings
from shopwindow.topics import TopicNames


def stream(topics: TopicNames, count: int, products: int) -> Iterator[DemoRecord]:
    """The initial catalog, then the steady mix, one millisecond apart; made as it is
    sent, so a long stream (``make soak``) is not held in memory."""
    return itertools.islice(soak_stream(topics, products), count)


async def produce(bootstrap: str, records: Iterable[DemoRecord], rate_per_s: float) -> int:
    """Send ``records`` at ``rate_per_s``; returns how many sends failed for good.

    A failed send is not retried here: what the topics end up holding is what the
    clean pass folds too, so a lost record cannot make the passes differ. Only sends
    in flight are held, so a long stream (``make soak``) costs no memory per record.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=5, acks="all"
    )
    await producer.start()
    in_flight: set[asyncio.Future[Any]] = set()
    failed = 0

    def settled(send: asyncio.Future[Any]) -> None:
        nonlocal failed
        in_flight.discard(send)
        if send.cancelled() or send.exception() is not None:
            failed += 1

    try:
        started = time.perf_counter()
        for n, record in enumerate(records):
            try:
                send = await producer.send(
                    record.topic, record.value, key=record.key, headers=record.headers
                )
            except KafkaError:
                failed += 1
            else:
                in_flight.add(send)
                send.add_done_callback(settled)
            ahead_s = n / rate_per_s - (time.perf_counter() - started)
            if ahead_s > 0.01:
                await asyncio.sleep(ahead_s)
        await producer.flush()
    finally:
        await producer.stop()
    await asyncio.gather(*in_flight, return_exceptions=True)
    await asyncio.sleep(0)  # The last callbacks run.
    return failed


async def lag(bootstrap: str, group: str, topics: TopicNames) -> int:
    """Records of the source topics the group has not committed yet."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in CORE.topic_names(topics)
            for p in (consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))
        ]
        ends = await consumer.end_offsets(partitions)
        behind = 0
        for tp in partitions:
            behind += ends[tp] - ((await consumer.committed(tp)) or 0)
        return behind
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer.topics()
    return consumer.partitions_for_topic(topic) or set()


async def documents(uri: str, database: str) -> dict[str, dict[str, Any]]:
    client = mongo_client(uri, "shopwindow-chaos")
    try:
        # When each document was written differs between two passes by nature.
        return {
            doc["_id"]: {
                key: value
                for key, value in public_view(doc, CORE.sections).items()
                if key != "materialized_at"
            }
            async for doc in client[database][COLLECTION].find()
        }
    finally:
        await client.close()


async def clean_pass(
    bootstrap_servers: str,
    mongodb_uri: str,
    topics: TopicNames,
    database: str,
    timeout_s: float = 600.0,
) -> None:
    """One uninterrupted materializer folds every record the source topics hold now.

    Done when its group has committed up to the end of every source partition: whatever
    the producers managed to write, duplicates and all.

    Raises:
        SystemExit: When it has not caught up within ``timeout_s``.
    """
    group = f"clean-{database}"
    settings = MaterializerSettings(
        kafka_bootstrap_servers=bootstrap_servers,
        mongodb_uri=mongodb_uri,
        mongodb_database=database,
        topics=topics,
        materializer_group_id=group,
        poll_timeout_ms=20,
    )
    async with Materializer(settings, serve_http=False) as materializer:
        task = asyncio.create_task(materializer.run())
        try:
            deadline = time.monotonic() + timeout_s
            while await lag(bootstrap_servers, group, topics) > 0:
                if time.monotonic() > deadline:
                    raise SystemExit(f"the clean pass is still behind after {timeout_s:.0f} s")
                await asyncio.sleep(0.5)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class Member:
    """One ``shopwindow materialize`` process."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "shopwindow.cli",
            "materialize",
            env=self._env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

    async def kill(self) -> None:
        if self.process and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> None:
        if self.process and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


async def chaos_pass(
    stack: DevStack,
    topics: TopicNames,
    database: str,
    records: list[DemoRecord],
    args: argparse.Namespace,
) -> int:
    group = f"chaos-{database}"
    env = {
        **os.environ,
        "SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
        "SHOPWINDOW_MONGODB_URI": stack.mongodb_uri,
        "SHOPWINDOW_MONGODB_DATABASE": database,
        "SHOPWINDOW_MATERIALIZER_GROUP_ID": group,
        "SHOPWINDOW_MATERIALIZER_HTTP_PORT": "0",
        "SHOPWINDOW_LOG_LEVEL": "ERROR",
        **{f"SHOPWINDOW_TOPICS__{k.upper()}": v for k, v in topics.model_dump().items()},
    }
    members = [Member(env), Member(env)]
    for member in members:
        await member.start()
    rng = random.Random(args.seed)
    producing = asyncio.create_task(produce(stack.kafka_bootstrap_servers, records, args.rate))
    kills = 0
    try:
        while kills < args.kills:
            await asyncio.sleep(rng.uniform(0.1, args.max_kill_interval_s))
            victim = rng.choice(members)
            await victim.kill()
            kills += 1
            await victim.start()
        await producing
        deadline = time.monotonic() + args.settle_timeout_s
        while (behind := await lag(stack.kafka_bootstrap_servers, group, topics)) > 0:
            if time.monotonic() > deadline:
                raise SystemExit(f"chaos: the group is still {behind} records behind")
            await asyncio.sleep(1)
    finally:
        for member in members:
            await member.stop()
        if not producing.done():
            producing.cancel()
    return kills


async def run(args: argparse.Namespace) -> int:
    async with servers() as stack:
        run_id = uuid.uuid4().hex[:8]
        topics = TopicNames().with_prefix(f"chaos{run_id}.")
        await create_topics(
            stack.kafka_bootstrap_servers, topics, args.partitions, CORE.all_topics(topics)
        )
        records = list(stream(topics, args.events, args.products))
        started = time.perf_counter()
        kills = await chaos_pass(stack, topics, f"chaos_{run_id}", records, args)
        chaos_s = time.perf_counter() - started
        await clean_pass(
            stack.kafka_bootstrap_servers, stack.mongodb_uri, topics, f"clean_{run_id}"
        )
        chaotic = await documents(stack.mongodb_uri, f"chaos_{run_id}")
        clean = await documents(stack.mongodb_uri, f"clean_{run_id}")
    different = sorted(
        pid for pid in clean.keys() | chaotic.keys() if clean.get(pid) != chaotic.get(pid)
    )
    versions = sum(doc["version"] for doc in clean.values())
    print(f"\n== chaos: {len(records)} events, {args.partitions} partitions per topic, 2 members")
    print(f"  SIGKILLs                          {kills} in {chaos_s:.0f} s")
    print(f"  documents after one clean pass    {len(clean)}")
    print(f"  documents after the chaos pass    {len(chaotic)}")
    chaotic_versions = sum(doc["version"] for doc in chaotic.values())
    print(f"  sum of versions (clean / chaos)   {versions} / {chaotic_versions}")
    print(f"  documents that differ             {len(different)}")
    for product_id in different[:5]:
        print(f"    {product_id}: clean {clean.get(product_id)}")
        print(f"    {' ' * len(product_id)}  chaos {chaotic.get(product_id)}")
    return 1 if different or not clean else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--rate", type=float, default=500.0, help="events per second")
    parser.add_argument("--max-kill-interval-s", type=float, default=1.5)
    parser.add_argument("--settle-timeout-s", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=3)
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
