"""Gateway throughput and latency against bare Starlette endpoints, in the same run.

    make bench-gateway            # or: python -m bench.gateway --help

The gateway (with both caches, without its response cache, without its document
cache), a bare endpoint doing the same MongoDB lookup and a bare endpoint answering the
same JSON from memory each run as their own uvicorn process (uvloop, httptools; the
gateway within its request bounds, as `shopwindow serve` runs it) over
the same MongoDB documents. A keep-alive HTTP/1.1 load generator sends each the
product-page operation the two ways clients send it:

* POSTed as text (``POST /graphql`` with ``{"query", "variables"}``), as Apollo Client,
  urql and curl send it: over 32 connections, as a server-side renderer or BFF would,
  and over one, as a phone would;
* as a persisted query (``GET /graphql`` with the operation's hash and the product id in
  ``variables``), as an Apollo client with APQ over GET sends it;

and prints req/s, p50, p99 and the ratios. The ``v`` run POSTs the page of a product sold
in 6 sizes and colours (its options, every variant's price and stock, and
``variantBySelectedOptions``) and is held to the single-variant ``p`` run. Then
``bench.gateway_consistency`` measures what read-your-writes adds to p99 while 500
writes/s flow through a materializer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

from bench.common import percentile, report, servers
from bench.gateway_consistency import read_your_writes
from bench.http_load import GATEWAY_HTTP, load, pinned_apart, start_app
from shopwindow.demo_events import DemoEvents
from shopwindow.devstack import DevStack
from shopwindow.document import COLLECTION
from shopwindow.gateway.execution.persisted import sha256_of
from shopwindow.kafka_admin import create_topics
from shopwindow.materializer.decode import decode_record
from shopwindow.materializer.events import Position, SourcedEvent
from shopwindow.materializer.fold import FoldSettings, fold
from shopwindow.materializer.sources import CORE
from shopwindow.mongo import mongo_client
from shopwindow.topics import TopicNames

QUERY = """query ProductPage($id: ID!) { product(id: $id) { id name brand images
  attributes { name value } price { amount listAmount currency discountPercent }
  stock { available status } rating { average count } version updatedAt } }"""
PERSISTED = {"persistedQuery": {"version": 1, "sha256Hash": sha256_of(QUERY)}}
# The same page of a product sold in sizes and colours: its options, every variant with
# its price and stock, and the one the shopper picked.
VARIANT_QUERY = """query VariantPage($id: ID!) { product(id: $id) { id name brand images
  attributes { name value } price { amount listAmount currency discountPercent }
  stock { available status } rating { average count } version updatedAt
  options { name values }
  variants(first: 50) { nodes { id sku title selectedOptions { name value }
    price { amount currency } stock { available status } availableForSale } }
  variantBySelectedOptions(selectedOptions: [{name: "size", value: "M"},
                                             {name: "color", value: "black"}]) {
    sku price { amount } stock { available } } } }"""


# The product page as a Swiss shopper reading German asks for it (issue 28). The
# gateway runs with two markets, ch falling back to eu, so the data are the same.
IN_CONTEXT_QUERY = QUERY.replace(
    "query ProductPage($id: ID!)",
    "query ProductPage($id: ID!) @inContext(country: CH, language: DE)",
)
MARKETS = {
    "default_market": "eu",
    "markets": [
        {"id": "eu", "countries": ["DE", "FR"], "currency": "EUR", "default_language": "en"},
        {
            "id": "ch",
            "countries": ["CH"],
            "currency": "CHF",
            "default_language": "de",
            "fallback": "eu",
        },
    ],
}


def posted(product_id: str, query: str = QUERY) -> bytes:
    """The raw HTTP/1.1 request of a product-page query POSTed as text."""
    body = orjson.dumps({"query": query, "variables": {"id": product_id}})
    return (
        b"POST /graphql HTTP/1.1\r\nHost: bench\r\nAccept: application/json\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    ) + body


def posted_in_context(product_id: str) -> bytes:
    """The raw HTTP/1.1 request of the product-page query with ``@inContext``."""
    return posted(product_id, IN_CONTEXT_QUERY)


def posted_variant_page(product_id: str) -> bytes:
    """The raw HTTP/1.1 request of the variant product-page query POSTed as text."""
    return posted(product_id, VARIANT_QUERY)


def persisted_get(product_id: str) -> bytes:
    """The raw HTTP/1.1 request of the persisted product-page query for one product."""
    query = urlencode(
        {
            "extensions": orjson.dumps(PERSISTED).decode(),
            "variables": orjson.dumps({"id": product_id}).decode(),
        }
    )
    return (
        f"GET /graphql?{query} HTTP/1.1\r\nHost: bench\r\nAccept: application/json\r\n\r\n".encode()
    )


async def seed(
    uri: str, database: str, count: int, prefix: str = "p", variants: int = 0
) -> dict[str, dict[str, Any]]:
    """Fold realistic events into ``count`` product documents of ``variants`` SKUs each
    (0: one default variant), stored and returned."""
    topics = TopicNames()
    routes = CORE.routes(topics)
    ids = [f"{prefix}{n:06d}" for n in range(count)]
    events = DemoEvents(topics, ids, random.Random(3), variants=variants)
    now = datetime.now(UTC)
    by_product: dict[str, list[SourcedEvent]] = {}
    for offset, record in enumerate(events.initial(now)):
        source, topic = routes[record.topic]
        decoded = decode_record(topic, record.key, record.value, record.headers)
        position = Position(record.topic, 0, offset)
        sourced = SourcedEvent(decoded.event, position, source, topic, decoded.event_id)
        by_product.setdefault(record.key.decode(), []).append(sourced)
    docs = {pid: fold(None, pid, evs, FoldSettings()).document for pid, evs in by_product.items()}
    stored = {pid: doc for pid, doc in docs.items() if doc is not None}
    client = mongo_client(uri, "shopwindow-bench")
    try:
        await client[database][COLLECTION].insert_many(list(stored.values()))
    finally:
        await client.close()
    return stored


def server_env(stack: DevStack, database: str) -> dict[str, str]:
    """The environment of a benchmarked gateway process."""
    return {
        **os.environ,
        "SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
        "SHOPWINDOW_MONGODB_URI": stack.mongodb_uri,
        "SHOPWINDOW_MONGODB_DATABASE": database,
        "SHOPWINDOW_LOG_LEVEL": "WARNING",
    }


async def start_server(
    factory: str, env: dict[str, str], http: str | None = None
) -> tuple[asyncio.subprocess.Process, int]:
    """Start one server of ``bench.gateway_apps`` and register the persisted query; the
    gateway on ``GATEWAY_HTTP`` and the bare endpoints on httptools unless ``http`` says."""
    http = http or (GATEWAY_HTTP if factory == "gateway" else "httptools")
    process, port = await start_app(f"bench.gateway_apps:{factory}", env, http)
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                # Registers the persisted query with the gateway (APQ); bare endpoints
                # just answer.
                await client.get(
                    f"http://127.0.0.1:{port}/graphql",
                    params={
                        "query": QUERY,
                        "extensions": orjson.dumps(PERSISTED).decode(),
                        "variables": '{"id": "x"}',
                    },
                )
                return process, port
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{factory} did not start")


@dataclass(frozen=True)
class Run:
    """One server driven one way."""

    factory: str
    env: dict[str, str] = field(default_factory=dict)
    request: Callable[[str], bytes] = posted
    connections: int | None = None  # None: --concurrency.
    query: str = QUERY
    variants: bool = False  # Over the products sold in sizes and colours.
    http: str | None = None  # The HTTP protocol, when not the one its factory runs on.


_NO_RESPONSES = {"SHOPWINDOW_RESPONSE_CACHE_MB": "0"}
RUNS = {
    "p gateway, POST": Run("gateway"),
    # Compared with p: measured right after it, so that drift over the run does not
    # show as a ratio (measured last, i came out 0.74 of p; right after it, 0.98).
    "i gateway, POST, @inContext(country: CH, language: DE)": Run(
        "gateway", request=posted_in_context, query=IN_CONTEXT_QUERY
    ),
    # What the request bounds cost: the gateway on plain httptools, right after p too.
    "u gateway, POST, plain httptools (no request bounds)": Run("gateway", http="httptools"),
    "v gateway, POST, variant page, 6 variants": Run(
        "gateway", request=posted_variant_page, query=VARIANT_QUERY, variants=True
    ),
    "r gateway, POST, response cache off": Run("gateway", _NO_RESPONSES),
    "c gateway, POST, document cache off": Run("gateway", {"SHOPWINDOW_DOCUMENT_CACHE_MB": "0"}),
    "b bare Starlette + MongoDB, POST": Run("baseline"),
    "m bare Starlette from memory, POST": Run("memory"),
    "p1 gateway, POST, 1 connection": Run("gateway", connections=1),
    "m1 from memory, POST, 1 connection": Run("memory", connections=1),
    "a gateway, persisted GET": Run("gateway", request=persisted_get),
    "g from memory, GET": Run("memory", request=persisted_get),
}


async def measure(
    run: Run, env: dict[str, str], products: dict[bool, list[str]], args: argparse.Namespace
) -> tuple[Any, float, list[float], int]:
    """Start one server, check its answer, drive it; its data, req/s, latencies, errors."""
    ids = products[run.variants]
    process, port = await start_server(run.factory, {**env, **run.env}, run.http)
    requests = [("product", run.request(pid)) for pid in ids]
    connections = run.connections or args.concurrency
    try:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"http://127.0.0.1:{port}/graphql",
                json={"query": run.query, "variables": {"id": ids[0]}},
            )
            # The same data; the gateway's own extensions (cost, freshness) aside.
            data = response.json()["data"]
        with pinned_apart(process.pid):
            await load(port, requests, connections, 2)  # Warm-up.
            errors, by_label = await load(port, requests, connections, args.seconds)
    finally:
        process.terminate()
        await process.wait()
    latencies = by_label["product"]
    return data, len(latencies) / args.seconds, latencies, errors


async def paired_rounds(
    plain: Run,
    other: Run,
    env: dict[str, str],
    products: dict[bool, list[str]],
    args: argparse.Namespace,
) -> list[float]:
    """``other``'s req/s over ``plain``'s, measured in rounds of the two back to back, the
    first of each round taking turns: one pair of 10 s runs on this machine gave 0.89
    in one run of the whole benchmark and 1.14 in the next, as much as the in-memory
    endpoint itself moves."""
    ratios = []
    for round_ in range(args.rounds):
        order = (plain, other) if round_ % 2 == 0 else (other, plain)
        rates = {id(each): (await measure(each, env, products, args))[1] for each in order}
        ratios.append(rates[id(other)] / rates[id(plain)])
    return ratios


async def run(args: argparse.Namespace) -> None:
    async with servers() as stack:
        database = f"bench_gateway_{uuid.uuid4().hex[:8]}"
        await create_topics(
            stack.kafka_bootstrap_servers, TopicNames(), 1, CORE.all_topics(TopicNames())
        )
        products = {
            False: list(await seed(stack.mongodb_uri, database, args.products)),
            True: list(await seed(stack.mongodb_uri, database, args.products, "v", variants=6)),
        }
        with tempfile.TemporaryDirectory(prefix="shopwindow-bench-") as root:
            markets_file = Path(root) / "markets.json"
            markets_file.write_bytes(orjson.dumps(MARKETS))
            env = {**server_env(stack, database), "SHOPWINDOW_MARKETS_FILE": str(markets_file)}
            results = {
                name: await measure(each, env, products, args) for name, each in RUNS.items()
            }
            plain = RUNS["p gateway, POST"]
            in_context = await paired_rounds(
                plain,
                RUNS["i gateway, POST, @inContext(country: CH, language: DE)"],
                env,
                products,
                args,
            )
            unbounded = await paired_rounds(
                plain,
                RUNS["u gateway, POST, plain httptools (no request bounds)"],
                env,
                products,
                args,
            )
            consistency = await read_your_writes(stack, env, args.writes_per_s, args.seconds)
    same_page = [result for name, result in results.items() if not RUNS[name].variants]
    if len({orjson.dumps(data) for data, *_ in same_page}) != 1:
        raise SystemExit(f"the servers answer differently:\n{results}")
    variant_page = results["v gateway, POST, variant page, 6 variants"][0]["product"]
    if len(variant_page["variants"]["nodes"]) != 6 or not variant_page["variantBySelectedOptions"]:
        raise SystemExit(f"the variant page is not a variant page:\n{variant_page}")
    rows = []
    for label, (_, rate, latencies, errors) in results.items():
        rows.append((f"{label} req/s", f"{rate:,.0f}  (errors: {errors})"))
        rows.append(
            (
                f"{label} p50 / p99",
                f"{percentile(latencies, 0.5) * 1000:.2f} / "
                f"{percentile(latencies, 0.99) * 1000:.2f} ms",
            )
        )
    rates = {name.split()[0]: result[1] for name, result in results.items()}
    p99 = {name.split()[0]: percentile(result[2], 0.99) for name, result in results.items()}
    rows += [
        ("ratio p/m (req/s)", f"{rates['p'] / rates['m']:.2f}  (target >= 0.6)"),
        ("ratio p99 p/m", f"{p99['p'] / p99['m']:.2f}  (target <= 2)"),
        ("ratio p/b (req/s)", f"{rates['p'] / rates['b']:.2f}  (target >= 4)"),
        ("ratio r/m (req/s)", f"{rates['r'] / rates['m']:.2f}  (target >= 0.4)"),
        ("ratio r/b (req/s)", f"{rates['r'] / rates['b']:.2f}"),
        ("ratio c/b (req/s)", f"{rates['c'] / rates['b']:.2f}"),
        ("ratio p1/m1 (req/s)", f"{rates['p1'] / rates['m1']:.2f}"),
        ("ratio p99 p1/m1", f"{p99['p1'] / p99['m1']:.2f}"),
        ("ratio a/g (req/s)", f"{rates['a'] / rates['g']:.2f}  (target >= 0.5)"),
        ("ratio a/b (req/s)", f"{rates['a'] / rates['b']:.2f}  (target >= 1.5)"),
        ("ratio v/p (req/s)", f"{rates['v'] / rates['p']:.2f}  (target >= 0.8)"),
        ("ratio i/p (req/s)", f"{rates['i'] / rates['p']:.2f}  (target >= 0.9)"),
        (
            f"ratio i/p, {len(in_context)} rounds of the two back to back",
            f"{' '.join(f'{r:.2f}' for r in in_context)}; "
            f"median {statistics.median(in_context):.2f}  (target >= 0.9)",
        ),
        ("ratio p/u (req/s): the request bounds", f"{rates['p'] / rates['u']:.2f}"),
        (
            f"ratio u/p, {len(unbounded)} rounds of the two back to back",
            f"{' '.join(f'{r:.2f}' for r in unbounded)}; median {statistics.median(unbounded):.2f}",
        ),
    ]
    report(
        f"gateway: product-page query, {args.concurrency} connections unless said, "
        f"{args.seconds:.0f} s each, {args.products} products; each server on one CPU, "
        "the load generator on the other(s)",
        rows,
    )
    report(f"read-your-writes at {args.writes_per_s} writes/s", consistency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--writes-per-s", type=int, default=500)
    parser.add_argument(
        "--rounds", type=int, default=4, help="rounds of two runs back to back, for i/p and u/p"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
