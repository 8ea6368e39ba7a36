"""Materializer throughput and freshness, against two baselines in the same run.

    make bench-materializer            # or: python -m bench.materializer --help

1. A backlog of N events (Zipf popularity over 100,000 products; mostly inventory
   deltas and clicks) is produced, then consumed by one materializer: events/s.
2. With the materializer caught up, events are produced at a fixed rate for a while:
   freshness (write time minus event time) p50/p99.
3. Baselines against the same MongoDB: one ``update_one`` per event (the naive
   materializer), and a raw bulk write of distinct documents (the database's ceiling).
4. The backlog again, over products of 20 variants each, stock moves and some prices
   naming SKUs: events/s against step 1's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from pydantic import BaseModel
from pymongo import InsertOne

from bench.common import fresh_topics, percentile, report, servers, wait_until
from shopwindow.demo_events import DemoEvents, DemoRecord
from shopwindow.demo_traffic import produce_steadily
from shopwindow.devstack import DevStack
from shopwindow.gc_tuning import tune_for_long_lived_objects
from shopwindow.materializer.decode import decode_record
from shopwindow.materializer.fold import FoldSettings, new_document
from shopwindow.materializer.metrics import MaterializerMetrics
from shopwindow.materializer.service import Materializer
from shopwindow.materializer.sources import CORE
from shopwindow.materializer.sources.catalog import CatalogSnapshot
from shopwindow.materializer.sources.inventory import InventoryDelta, StockTake
from shopwindow.materializer.sources.popularity import OrderPlaced, ProductViewed
from shopwindow.materializer.sources.prices import PriceSnapshot
from shopwindow.materializer.sources.reviews import ReviewUpserted
from shopwindow.mongo import mongo_client
from shopwindow.settings import MaterializerSettings
from shopwindow.topics import TopicNames


class RecordingHistogram:
    """Stands in for the freshness histogram and keeps every observation."""

    def __init__(self, histogram: Any) -> None:
        self._histogram = histogram
        self.values: list[float] = []

    def observe(self, value: float) -> None:
        self._histogram.observe(value)
        self.values.append(value)


async def produce(bootstrap: str, records: list[DemoRecord]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=20, acks="all"
    )
    await producer.start()
    try:
        for record in records:
            await producer.send(record.topic, record.value, key=record.key, headers=record.headers)
        await producer.flush()
    finally:
        await producer.stop()


async def produce_at_rate(
    bootstrap: str, events: DemoEvents, rate_per_s: float, seconds: float
) -> int:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=5, acks="all"
    )
    await producer.start()
    try:
        return await produce_steadily(producer, events, rate_per_s, seconds=seconds)
    finally:
        await producer.stop()


def consumed(metrics: MaterializerMetrics, topics: TopicNames) -> float:
    registry = metrics.registry
    return sum(
        registry.get_sample_value("shopwindow_events_consumed_total", {"topic": topic}) or 0.0
        for topic in CORE.topic_names(topics)
    )


def batch_stats(metrics: MaterializerMetrics) -> tuple[float, float, float, float]:
    """Batches, records, bulk writes and seconds writing, so far."""
    sample = metrics.registry.get_sample_value
    return (
        sample("shopwindow_batch_records_count") or 0.0,
        sample("shopwindow_batch_records_sum") or 0.0,
        sample("shopwindow_write_seconds_count") or 0.0,
        sample("shopwindow_write_seconds_sum") or 0.0,
    )


def naive_update(event: BaseModel) -> dict[str, Any]:
    """What a materializer without batching or folding would send for one event."""
    match event:
        case InventoryDelta():
            return {"$inc": {"stock.quantity": event.quantity_change}}
        case StockTake():
            return {"$set": {"stock.quantity": event.quantity}}
        case ProductViewed():
            return {"$inc": {"popularity.views": 1}}
        case OrderPlaced():
            return {"$inc": {"popularity.orders": 1}}
        case ReviewUpserted():
            return {"$set": {f"reviews.{event.review_id}": event.rating}}
        case PriceSnapshot():
            return {"$set": {"price.amount": event.amount}}
        case CatalogSnapshot():
            return {"$set": {"catalog.name": event.name}}
        case _:
            return {"$set": {"deleted": True}}


@dataclass
class Drained:
    """A materializer that consumed a backlog: how fast, and what it is left with."""

    materializer: Materializer
    metrics: MaterializerMetrics
    recorder: RecordingHistogram
    events: DemoEvents
    topics: TopicNames
    database: str
    backlog: list[DemoRecord]
    throughput: float
    written: float


@contextlib.asynccontextmanager
async def drained(
    stack: DevStack, args: argparse.Namespace, variants: int
) -> AsyncIterator[Drained]:
    """A backlog of ``args.events`` over products of ``variants`` SKUs each (0: one
    default variant), produced to fresh topics and consumed by one materializer, which
    runs on until the block ends."""
    bootstrap = stack.kafka_bootstrap_servers
    run_id, topics = await fresh_topics(bootstrap, args.partitions)
    products = [f"p{n:06d}" for n in range(args.products)]
    events = DemoEvents(topics, products, random.Random(7), zipf_s=args.zipf, variants=variants)
    now = datetime.now(UTC)
    backlog = [events.next(now) for _ in range(args.events)]
    await produce(bootstrap, backlog)
    database = f"bench_{run_id}"
    settings = MaterializerSettings(
        kafka_bootstrap_servers=bootstrap,
        mongodb_uri=stack.mongodb_uri,
        mongodb_database=database,
        topics=topics,
        materializer_group_id=f"bench-{run_id}",
        batch_max_records=args.batch,
        poll_timeout_ms=20,
    )
    metrics = MaterializerMetrics()
    recorder = RecordingHistogram(metrics.freshness_seconds)
    metrics.freshness_seconds = recorder  # type: ignore[assignment]
    async with Materializer(settings, metrics=metrics, serve_http=False) as materializer:
        task = asyncio.create_task(materializer.run())
        try:
            await wait_until(lambda: consumed(metrics, topics) > 0, 0.005)
            first_batch, started = consumed(metrics, topics), time.perf_counter()
            await wait_until(lambda: consumed(metrics, topics) >= args.events)
            elapsed = time.perf_counter() - started
            written = metrics.registry.get_sample_value("shopwindow_documents_written_total") or 0
            yield Drained(
                materializer,
                metrics,
                recorder,
                events,
                topics,
                database,
                backlog,
                (args.events - first_batch) / elapsed,
                written,
            )
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def run(args: argparse.Namespace) -> None:
    async with servers() as stack:
        bootstrap = stack.kafka_bootstrap_servers
        async with drained(stack, args, variants=0) as single:
            metrics, recorder, topics = single.metrics, single.recorder, single.topics
            throughput, written, backlog = single.throughput, single.written, single.backlog
            database = single.database
            recorder.values.clear()
            before = batch_stats(metrics)
            sent = await produce_at_rate(bootstrap, single.events, args.rate, args.seconds)
            await wait_until(lambda: consumed(metrics, topics) >= args.events + sent)
            freshness = list(recorder.values)
            after = batch_stats(metrics)
        async with drained(stack, args, variants=args.variants) as many:
            variant_throughput, variant_written = many.throughput, many.written

        client = mongo_client(stack.mongodb_uri, "shopwindow-bench")
        try:
            routes = CORE.routes(topics)
            naive = client[database]["baseline_update_one"]
            sample = backlog[: args.baseline_events]
            decoded = [
                (routes[r.topic][1], decode_record(routes[r.topic][1], r.key, r.value, r.headers))
                for r in sample
            ]
            started = time.perf_counter()
            for topic, record in decoded:
                event = record.event
                for product_id in topic.product_ids(event):
                    await naive.update_one({"_id": product_id}, naive_update(event), upsert=True)
            naive_rate = len(decoded) / (time.perf_counter() - started)

            raw = client[database]["baseline_bulk"]
            template = new_document("x", FoldSettings())
            docs = [{**template, "_id": f"raw{n:07d}"} for n in range(args.baseline_events * 4)]
            started = time.perf_counter()
            for offset in range(0, len(docs), args.batch):
                await raw.bulk_write(
                    [InsertOne(doc) for doc in docs[offset : offset + args.batch]], ordered=False
                )
            bulk_rate = len(docs) / (time.perf_counter() - started)
        finally:
            await client.close()

    report(
        f"materializer: {args.events} events, Zipf s={args.zipf} over {args.products} products,"
        f" batches of up to {args.batch}",
        [
            ("materializer (events/s)", f"{throughput:,.0f}"),
            ("documents written per event", f"{written / args.events:.2f}"),
            ("baseline update_one per event (events/s)", f"{naive_rate:,.0f}"),
            ("baseline raw bulk write of distinct docs (docs/s)", f"{bulk_rate:,.0f}"),
            (
                "ratio materializer / update_one per event",
                f"{throughput / naive_rate:.1f}x  (target >= 10x)",
            ),
            ("ratio materializer / raw bulk docs", f"{throughput / bulk_rate:.2f}x"),
            (
                f"materializer, {args.variants} variants per product, stock and prices per SKU "
                "(events/s)",
                f"{variant_throughput:,.0f}  ({variant_written / args.events:.2f} documents "
                "written per event)",
            ),
            (
                f"ratio {args.variants} variants / one",
                f"{variant_throughput / throughput:.2f}x  (target >= 0.8x)",
            ),
        ],
    )
    report(
        f"freshness at {args.rate:,.0f} events/s for {args.seconds:.0f} s ({sent} events)",
        [
            ("batches", f"{after[0] - before[0]:.0f}"),
            (
                "mean records per batch",
                f"{(after[1] - before[1]) / max(after[0] - before[0], 1):.0f}",
            ),
            (
                "mean bulk write",
                f"{(after[3] - before[3]) / max(after[2] - before[2], 1) * 1000:.0f} ms",
            ),
            ("p50", f"{percentile(freshness, 0.50) * 1000:.0f} ms"),
            ("p99", f"{percentile(freshness, 0.99) * 1000:.0f} ms  (target < 1000 ms)"),
            ("max", f"{max(freshness, default=float('nan')) * 1000:.0f} ms"),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--zipf", type=float, default=1.0, help="popularity skew")
    parser.add_argument("--batch", type=int, default=5000, help="records per batch")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--rate", type=float, default=2000, help="sustained events/s")
    parser.add_argument("--seconds", type=float, default=20, help="sustained phase length")
    parser.add_argument("--baseline-events", type=int, default=5000)
    parser.add_argument("--variants", type=int, default=20, help="SKUs per product, 2nd run")
    args = parser.parse_args()
    tune_for_long_lived_objects()  # As `shopwindow materialize` does.
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
