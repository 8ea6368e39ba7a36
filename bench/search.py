"""Search through the gateway against MongoDB ``$regex`` + ``$facet``, in the same run.

    make bench-search            # or: python -m bench.search --help

100,000 products (``bench.search_catalog``) are folded, stored in MongoDB and announced
on a fresh changelog topic. Then, each server its own uvicorn process on one CPU and the
load generator on the other(s):

* the gateway builds its search index from the changelog: the build rate, and the
  index's memory (the gateway's RSS against a gateway with search off) and disk;
* a mix of shopper queries (one word, two words, a typo, a prefix, filtered with
  facets, sorted by price) over HTTP: p50/p95/p99 per kind and req/s;
* freshness: a changelog record's product is found by a new word in its name within
  how long (polling every 10 ms);
* the baseline (``bench.search_apps``) answers the same requests; the ratio of req/s;
* the same catalog with 5 variants per product (3 sizes, 2 colours, stock per SKU):
  the same mix's req/s against the single-variant run's, and shoppers narrowing by
  size and colour with option facets, and sorting one size by price.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer

from bench.common import cpu_seconds, percentile, report, rss_bytes, servers
from bench.gateway import server_env
from bench.http_load import GATEWAY_HTTP, load, pinned_apart, start_app
from bench.search_catalog import CatalogProduct, option_queries, products, queries
from shopwindow.devstack import DevStack
from shopwindow.document import COLLECTION
from shopwindow.kafka_admin import create_topics
from shopwindow.materializer.decode import decode_record
from shopwindow.materializer.events import Position, SourcedEvent
from shopwindow.materializer.fold import FoldSettings, fold
from shopwindow.materializer.publishing import changelog_record
from shopwindow.materializer.sources import CORE, catalog, inventory, prices
from shopwindow.mongo import mongo_client
from shopwindow.topics import TopicNames

PAGE = "totalCount edges { node { id name brand price { amount } } }"
FACETS = """facets { brands { value count } categories { value count }
  priceRanges { min max count } inStock { value count }
  options { name values { value count } } }"""
SEARCH = """query Search($q: String, $filter: ProductFilter, $sort: SearchSort! = RELEVANCE) {
  search(query: $q, filter: $filter, sort: $sort) { %s } }"""


def fold_product(product: CatalogProduct, topics: TopicNames) -> dict[str, Any]:
    """The document the materializer makes of one product's events."""
    events = []
    sent = [
        (catalog, product.catalog),
        *((prices, value) for value in product.prices),
        *((inventory, value) for value in product.stocks),
    ]
    for offset, (source, value) in enumerate(sent):
        topic = source.TOPIC
        decoded = decode_record(topic, product.product_id.encode(), orjson.dumps(value), [])
        position = Position(topic.name_in(topics), 0, offset)
        events.append(SourcedEvent(decoded.event, position, source.SOURCE, topic, decoded.event_id))
    doc = fold(None, product.product_id, events, FoldSettings()).document
    assert doc is not None
    return doc


async def seed(
    stack: DevStack, database: str, topics: TopicNames, count: int, variants: int = 0
) -> list[Any]:
    """Store and announce ``count`` products; returns their documents."""
    docs = [fold_product(p, TopicNames()) for p in products(count, variants=variants)]
    client = mongo_client(stack.mongodb_uri, "shopwindow-bench")
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers,
        enable_idempotence=False,  # The Tansu stand-in refuses idempotent producers.
        linger_ms=20,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    try:
        for start in range(0, len(docs), 5000):
            chunk = docs[start : start + 5000]
            await client[database][COLLECTION].insert_many([dict(d) for d in chunk])
            sent = [await producer.send(*_record(topics, d)) for d in chunk]
            await asyncio.gather(*sent)
    finally:
        await producer.stop()
        await client.close()
    return docs


def _record(topics: TopicNames, doc: dict[str, Any]) -> tuple[str, bytes | None, bytes]:
    record = changelog_record(topics.changelog, doc["_id"], doc, CORE.sections)
    assert record.key is not None
    return record.topic, record.value, record.key


def post(variables: dict[str, Any]) -> bytes:
    """The raw HTTP/1.1 request of a search."""
    selection = PAGE + (" " + FACETS if variables.get("facets") else "")
    body = orjson.dumps({"query": SEARCH % selection, "variables": variables})
    return (
        b"POST /graphql HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        b"Accept: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )


@contextlib.asynccontextmanager
async def running(target: str, env: dict[str, str]) -> AsyncIterator[tuple[int, int, float]]:
    """A server process, ready: its pid, port and seconds from start to ``/readyz``."""
    started = time.perf_counter()
    http = GATEWAY_HTTP if target == "bench.gateway_apps:gateway" else "httptools"
    process, port = await start_app(target, env, http)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                status = (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code
                if status in (200, 404):  # The baseline has no probes.
                    break
                await asyncio.sleep(0.05)
        yield process.pid, port, time.perf_counter() - started
    finally:
        process.terminate()
        await process.wait()


async def settled(pid: int, idle_share: float = 0.1, bound_s: float = 60) -> None:
    """Until process ``pid`` uses under ``idle_share`` of a CPU over a second (its index
    merges done), at most ``bound_s``."""
    deadline = time.perf_counter() + bound_s
    before = cpu_seconds(pid)
    while time.perf_counter() < deadline:
        await asyncio.sleep(1)
        after = cpu_seconds(pid)
        if after - before < idle_share:
            return
        before = after


async def drive(
    pid: int, port: int, requests: Sequence[tuple[str, bytes]], concurrency: int, seconds: float
) -> tuple[int, dict[str, list[float]]]:
    with pinned_apart(pid):
        await load(port, requests, concurrency, 2)  # Warm-up.
        return await load(port, requests, concurrency, seconds)


async def freshness(
    stack: DevStack, topics: TopicNames, port: int, docs: Sequence[Any], samples: int
) -> list[float]:
    """Seconds from announcing a renamed product to finding it by its new word."""
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, enable_idempotence=False
    )
    await producer.start()
    delays = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for n, doc in enumerate(random.Random(7).sample(list(docs), samples)):
                word = f"fresh{n}x{uuid.uuid4().hex[:6]}"
                renamed = {
                    **doc,
                    "version": doc["version"] + 1,
                    "catalog": {**doc["catalog"], "name": f"{doc['catalog']['name']} {word}"},
                }
                await producer.send_and_wait(*_record(topics, renamed))
                sent = time.perf_counter()
                while True:
                    response = await http.post(
                        "/graphql",
                        json={"query": "query($q: String) { search(query: $q) { totalCount } }",
                              "variables": {"q": word}},
                    )  # fmt: skip
                    if response.json()["data"]["search"]["totalCount"] == 1:
                        break
                    await asyncio.sleep(0.01)
                delays.append(time.perf_counter() - sent)
                await asyncio.sleep(0.05)
    finally:
        await producer.stop()
    return delays


async def metric(port: int, name: str) -> float:
    """One unlabelled sample of the gateway's ``/metrics``."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise RuntimeError(f"{name} is not reported")


def disk_bytes(directory: Path) -> int:
    """The size of the files under ``directory``."""
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def _ms(values: Sequence[float], fraction: float) -> str:
    return f"{percentile(values, fraction) * 1000:.1f}" if values else "-"


def _spread(values: Sequence[float]) -> str:
    return f"{_ms(values, 0.5)} / {_ms(values, 0.95)} / {_ms(values, 0.99)} ms ({len(values)} done)"


@contextlib.asynccontextmanager
async def seeded(
    stack: DevStack, count: int, variants: int = 0
) -> AsyncIterator[tuple[TopicNames, str, list[Any], float]]:
    """A catalog of its own: topics, database, documents, and seconds to seed."""
    topics = TopicNames().with_prefix(f"bench{uuid.uuid4().hex[:8]}.")
    await create_topics(
        stack.kafka_bootstrap_servers, topics, 1, [topics.changelog, topics.progress]
    )
    database = f"bench_search_{uuid.uuid4().hex[:8]}"
    seeded_at = time.perf_counter()
    docs = await seed(stack, database, topics, count, variants)
    yield topics, database, docs, time.perf_counter() - seeded_at


def gateway_env(stack: DevStack, database: str, topics: TopicNames, index: str) -> dict[str, str]:
    """A gateway's settings for one catalog.

    Results spread over the whole catalog, so a replica serving search keeps the
    catalog's documents in its cache, as an operator would size it: with the 64 MB
    default, the runs would measure how many of them SecantusDB serves, and a catalog
    of larger documents (variants) would be slower for that alone.
    """
    return server_env(stack, database) | {
        "SHOPWINDOW_DOCUMENT_CACHE_MB": "1024",
        "SHOPWINDOW_TOPICS__CHANGELOG": topics.changelog,
        "SHOPWINDOW_TOPICS__PROGRESS": topics.progress,
        "SHOPWINDOW_SEARCH_INDEX_DIR": index,
    }


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(5)
    mix = [(kind, post(variables)) for kind, variables in queries(rng)]
    narrowing = [(kind, post(variables)) for kind, variables in option_queries(rng)]
    async with servers() as stack:
        async with seeded(stack, args.products) as (topics, database, docs, seeding_s):
            with tempfile.TemporaryDirectory(prefix="shopwindow-bench-index-") as index_dir:
                env = gateway_env(stack, database, topics, index_dir)
                async with running("bench.gateway_apps:gateway", env) as (pid, port, build_s):
                    await settled(pid)  # Merges settle.
                    index_rss = rss_bytes(pid)
                    disk = disk_bytes(Path(index_dir))
                    built_s = await metric(port, "shopwindow_search_index_build_seconds")
                    _, gateway = await drive(pid, port, mix, args.latency_concurrency, args.seconds)
                    errors, saturated = await drive(pid, port, mix, args.concurrency, args.seconds)
                    fresh = await freshness(stack, topics, port, docs, args.freshness_samples)
                plain_env = env | {"SHOPWINDOW_SEARCH_ENABLED": "false"}
                async with running("bench.gateway_apps:gateway", plain_env) as (pid, _, _):
                    await asyncio.sleep(1)
                    plain_rss = rss_bytes(pid)
            async with running("bench.search_apps:baseline", server_env(stack, database)) as (
                pid,
                port,
                _,
            ):
                baseline_errors, baseline = await drive(
                    pid, port, mix, args.baseline_concurrency, args.seconds
                )
        async with seeded(stack, args.products, args.variants) as (topics, database, _, _):
            with tempfile.TemporaryDirectory(prefix="shopwindow-bench-index-") as index_dir:
                env = gateway_env(stack, database, topics, index_dir)
                async with running("bench.gateway_apps:gateway", env) as (pid, port, _):
                    await settled(pid)  # A larger index merges for longer after its build.
                    variant_rss = rss_bytes(pid)
                    variant_built_s = await metric(port, "shopwindow_search_index_build_seconds")
                    # As in the single-variant run: the mix at low concurrency first, which
                    # also reads its products into the document cache.
                    _, variant_latency = await drive(
                        pid, port, mix, args.latency_concurrency, args.seconds
                    )
                    _, narrowed = await drive(
                        pid, port, narrowing, args.latency_concurrency, args.seconds
                    )
                    variant_errors, variant_saturated = await drive(
                        pid, port, mix, args.concurrency, args.seconds
                    )
    rows = [
        ("products", f"{args.products:,} (seeded in {seeding_s:.0f} s)"),
        (
            "index build, first fetch to caught up",
            f"{built_s:.1f} s = {args.products / built_s:,.0f} documents/s (target >= 20,000)",
        ),
        ("gateway process start to ready", f"{build_s:.1f} s"),
        ("index memory (RSS, search on - off)", f"{(index_rss - plain_rss) / 2**20:,.0f} MiB"),
        ("index disk", f"{disk / 2**20:,.0f} MiB"),
    ]
    for kind in dict.fromkeys(k for k, _ in mix):
        rows.append(
            (
                f"{kind}: p50 / p95 / p99",
                f"gateway {_spread(gateway[kind])}; baseline {_spread(baseline[kind])}",
            )
        )
    every = [v for values in saturated.values() for v in values]
    every_baseline = [v for values in baseline.values() for v in values]
    every_variant = [v for values in variant_saturated.values() for v in values]
    rate, baseline_rate = len(every) / args.seconds, len(every_baseline) / args.seconds
    variant_rate = len(every_variant) / args.seconds
    faceted_p95 = percentile(gateway["filtered, facets"], 0.95) * 1000
    option_p95 = percentile(narrowed["options, facets"], 0.95) * 1000
    rows += [
        (
            f"gateway req/s at {args.concurrency} connections",
            f"{rate:,.0f}  (errors: {errors}; p95 {_ms(every, 0.95)} ms)",
        ),
        ("baseline req/s", f"{baseline_rate:,.2f}  (errors: {baseline_errors})"),
        ("ratio gateway/baseline (req/s)", f"{rate / baseline_rate:.1f}  (target >= 10)"),
        ("faceted p95", f"{faceted_p95:.1f} ms  (target <= 50)"),
        (
            "changelog record to searchable p50 / p99",
            f"{_ms(fresh, 0.5)} / {_ms(fresh, 0.99)} ms over {len(fresh)} records "
            "(target p99 < 1000)",
        ),
        (f"with {args.variants} variants each: index build", f"{variant_built_s:.1f} s"),
        (
            "  index memory (RSS, variants - single, search on)",
            f"{(variant_rss - index_rss) / 2**20:,.0f} MiB",
        ),
        (
            f"  the same mix, req/s at {args.concurrency} connections",
            f"{variant_rate:,.0f}  (errors: {variant_errors}); "
            f"ratio to single-variant {variant_rate / rate:.2f}  (target >= 0.8)",
        ),
    ]
    for kind in dict.fromkeys(k for k, _ in mix):
        rows.append((f"  {kind}: p50 / p95 / p99", _spread(variant_latency[kind])))
    for kind in dict.fromkeys(k for k, _ in narrowing):
        rows.append((f"  {kind}: p50 / p95 / p99", _spread(narrowed[kind])))
    rows.append(("  option-faceted p95", f"{option_p95:.1f} ms  (target <= 50)"))
    report(
        f"search: latencies at {args.latency_concurrency} connections, throughput at "
        f"{args.concurrency} (the gateway) and {args.baseline_concurrency} (the baseline), "
        f"{args.seconds:.0f} s each; each server on one CPU, the load generator on the "
        "other(s)",
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=16)
    # Latency is measured below saturation, throughput at it.
    parser.add_argument("--latency-concurrency", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--freshness-samples", type=int, default=100)
    parser.add_argument("--variants", type=int, default=5)
    # A scan of every document per request: more connections only queue behind it.
    parser.add_argument("--baseline-concurrency", type=int, default=2)
    os.environ.setdefault("PYTHONHASHSEED", "0")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
