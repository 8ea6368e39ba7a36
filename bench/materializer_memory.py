"""What a materializer's memory grows with: tracemalloc over the soak's event mix.

    make profile-materializer     # or: python -m bench.materializer_memory --help

One materializer runs in this process over the stand-ins (or the servers configured),
and folds the soak's stream (``make soak``: 1,000 products, the demo mix, event times
1 ms apart) in stages. After each stage it waits until every record is folded, collects
garbage, and prints what it holds: RSS, the bytes tracemalloc traces, the document
cache's documents and bytes, and the mean stored document. At the end it prints the
allocation sites that grew most between the first steady stage and the last, so a
growth that does not level off names its line.

A stage of 60,000 events is five minutes of the soak at 200 events/s: the default
twelve stages are an hour of it, folded as fast as the materializer goes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import os
import random
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial

import orjson
from aiokafka import AIOKafkaProducer

from bench.common import fresh_topics, rss_bytes, servers, wait_until
from shopwindow.demo_events import DemoEvents, DemoRecord, product_ids
from shopwindow.document import META
from shopwindow.generations import products_collection
from shopwindow.materializer.metrics import MaterializerMetrics
from shopwindow.materializer.service import Materializer
from shopwindow.materializer.sources import CORE
from shopwindow.mongo import mongo_client
from shopwindow.settings import MaterializerSettings
from shopwindow.topics import TopicNames

MIB = 1 << 20
FRAMES = 12  # Deep enough to name the fold step under the generic dict copies.


def soak_stream(topics: TopicNames, products: int) -> Iterator[DemoRecord]:
    """The stream of ``make chaos``, ``make faults`` and ``make soak``: the catalog, then
    the steady mix, 1 ms of event time apart, without end."""
    events = DemoEvents(topics, product_ids(products), random.Random(11))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    steady = (events.next(start + timedelta(milliseconds=n)) for n in itertools.count())
    return itertools.chain(events.initial(start), steady)


async def produce(
    bootstrap: str, records: Iterator[DemoRecord], count: int, rate_per_s: float
) -> None:
    """Send ``count`` records, at ``rate_per_s`` (0: as fast as the broker takes them)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=20, acks="all"
    )
    await producer.start()
    started = time.monotonic()
    try:
        for n, record in enumerate(itertools.islice(records, count)):
            await producer.send(record.topic, record.value, key=record.key, headers=record.headers)
            if rate_per_s > 0:
                await asyncio.sleep(max(0.0, started + n / rate_per_s - time.monotonic()))
        await producer.flush()
    finally:
        await producer.stop()


def folded_all(metrics: MaterializerMetrics, topics: TopicNames, sent: int) -> bool:
    """Whether the materializer has consumed ``sent`` records."""
    sample = metrics.registry.get_sample_value
    consumed = sum(
        sample("shopwindow_events_consumed_total", {"topic": topic}) or 0.0
        for topic in CORE.topic_names(topics)
    )
    return consumed >= sent


async def stored_sizes(uri: str, database: str) -> tuple[float, int, dict[str, float]]:
    """The mean and largest stored document, and the mean bytes of each part of one,
    all in bytes of JSON (the cache counts ``MEMORY_PER_JSON_BYTE`` times that)."""
    client = mongo_client(uri, "shopwindow-profile")
    try:
        sizes: list[int] = []
        parts: dict[str, int] = {}
        async for doc in client[database][products_collection(0)].find():
            sizes.append(len(orjson.dumps(doc, default=str)))
            meta = doc.pop(META)
            for name, value in [*doc.items(), *((f"{META}.{k}", v) for k, v in meta.items())]:
                parts[name] = parts.get(name, 0) + len(orjson.dumps(value, default=str))
        count = max(1, len(sizes))
        return sum(sizes) / count, max(sizes, default=0), {k: v / count for k, v in parts.items()}
    finally:
        await client.close()


def top_growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, n: int) -> None:
    """The allocation sites that grew most, with the frames that say why."""
    keep = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<*")]
    diff = after.filter_traces(keep).compare_to(before.filter_traces(keep), "traceback")
    print(f"\n== the {n} allocation sites that grew most")
    for stat in diff[:n]:
        print(f"{stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d} blocks")
        for frame in list(stat.traceback)[-FRAMES:]:
            if "site-packages" not in frame.filename or frame is stat.traceback[0]:
                print(f"      {frame.filename}:{frame.lineno}")


async def run(args: argparse.Namespace) -> None:
    async with servers() as stack:
        bootstrap = stack.kafka_bootstrap_servers
        run_id, topics = await fresh_topics(bootstrap, args.partitions)
        database = f"profile_{run_id}"
        settings = MaterializerSettings(
            kafka_bootstrap_servers=bootstrap,
            mongodb_uri=stack.mongodb_uri,
            mongodb_database=database,
            topics=topics,
            materializer_group_id=f"profile-{run_id}",
            materializer_document_cache_mb=args.cache_mb,
        )
        metrics = MaterializerMetrics()
        records = soak_stream(topics, args.products)
        async with Materializer(settings, metrics=metrics, serve_http=False) as materializer:
            task = asyncio.create_task(materializer.run())
            try:
                print(
                    f"== a materializer folding the soak's stream: {args.products:,} products,"
                    f" stages of {args.stage_events:,} events, a document cache of"
                    f" {args.cache_mb} MiB"
                )
                print(
                    f"{'events':>9} {'rss MiB':>8} {'traced':>8} {'cached docs':>11}"
                    f" {'cache MiB':>9} {'doc KiB':>8} {'max KiB':>8}  (documents in KiB of JSON)"
                )
                snapshots: list[tracemalloc.Snapshot] = []
                parts: dict[str, float] = {}
                sent = 0
                for stage in range(args.stages):
                    if stage == args.stages - args.traced_stages:
                        tracemalloc.start(FRAMES)  # Slows folding threefold: only at the end.
                    await produce(bootstrap, records, args.stage_events, args.events_per_s)
                    sent += args.stage_events
                    await wait_until(partial(folded_all, metrics, topics, sent), 0.2)
                    gc.collect()
                    if tracemalloc.is_tracing():
                        snapshots.append(tracemalloc.take_snapshot())
                    gauge = metrics.registry.get_sample_value
                    cached = gauge("shopwindow_materializer_document_cache_documents") or 0
                    cached_bytes = gauge("shopwindow_materializer_document_cache_bytes") or 0
                    mean, largest, parts = await stored_sizes(stack.mongodb_uri, database)
                    print(
                        f"{sent:>9,} {rss_bytes(os.getpid()) / MIB:>8.1f}"
                        f" {tracemalloc.get_traced_memory()[0] / MIB:>8.1f}"
                        f" {cached:>11,.0f} {cached_bytes / MIB:>9.1f}"
                        f" {mean / 1024:>8.1f} {largest / 1024:>8.1f}",
                        flush=True,
                    )
                print("\n== the mean document's parts, KiB")
                for name, size in sorted(parts.items(), key=lambda item: -item[1]):
                    print(f"  {name:<28} {size / 1024:8.2f}")
                top_growth(snapshots[0], snapshots[-1], args.top)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--stage-events", type=int, default=60_000)
    parser.add_argument("--stages", type=int, default=12)
    parser.add_argument("--traced-stages", type=int, default=2)
    parser.add_argument(
        "--events-per-s",
        type=float,
        default=0.0,
        help="the rate of each stage; 0 (the default) folds it as fast as it goes, 200 is"
        " the soak's: small batches, many commits",
    )
    parser.add_argument(
        "--cache-mb",
        type=int,
        default=MaterializerSettings.model_fields["materializer_document_cache_mb"].default,
        help="SHOPWINDOW_MATERIALIZER_DOCUMENT_CACHE_MB",
    )
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--top", type=int, default=12)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
