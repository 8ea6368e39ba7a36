"""Gateway throughput and latency against a bare Starlette endpoint, in the same run.

    make bench-gateway            # or: python -m bench.gateway --help

The gateway (document cache on, then off) and the bare endpoint each run as their own
uvicorn process (uvloop, httptools) over the same MongoDB documents; a keep-alive
HTTP/1.1 load generator drives the product-page query at a fixed concurrency against
each in turn and prints req/s, p50, p99 and the ratios to the bare endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from bench.common import percentile, report, servers
from shopwindow.demo_events import DemoEvents
from shopwindow.devstack import DevStack
from shopwindow.devstack.process import free_port
from shopwindow.document import COLLECTION
from shopwindow.kafka_admin import create_topics
from shopwindow.materializer.decode import decode_record
from shopwindow.materializer.events import Position, SourcedEvent
from shopwindow.materializer.fold import FoldSettings, fold
from shopwindow.materializer.sources import CORE
from shopwindow.mongo import mongo_client
from shopwindow.topics import TopicNames

QUERY = """query {{ product(id: "{id}") {{ id name brand images attributes {{ name value }}
  price {{ amount listAmount currency discountPercent }} stock {{ available status }}
  rating {{ average count }} version updatedAt }} }}"""


async def seed(uri: str, database: str, count: int) -> dict[str, dict[str, Any]]:
    """Fold realistic events into ``count`` product documents, stored and returned."""
    topics = TopicNames()
    routes = CORE.routes(topics)
    ids = [f"p{n:06d}" for n in range(count)]
    events = DemoEvents(topics, ids, random.Random(3))
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


async def start_server(factory: str, port: int, env: dict[str, str]) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        f"bench.gateway_apps:{factory}",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
    )
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                await client.post(
                    f"http://127.0.0.1:{port}/graphql", json={"query": QUERY.format(id="x")}
                )
                return process
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{factory} did not start")


async def load(
    port: int, bodies: Sequence[bytes], concurrency: int, seconds: float
) -> tuple[int, list[float]]:
    """Drive the server with ``concurrency`` keep-alive connections for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def connection(seed: int) -> None:
        nonlocal errors
        rng = random.Random(seed)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                body = rng.choice(bodies)
                started = time.perf_counter()
                writer.write(
                    b"POST /graphql HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if not head.startswith(b"HTTP/1.1 200"):
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection(n) for n in range(concurrency)))
    return errors, latencies


async def run(args: argparse.Namespace) -> None:
    async with servers() as stack:
        database = f"bench_gateway_{uuid.uuid4().hex[:8]}"
        await create_topics(
            stack.kafka_bootstrap_servers, TopicNames(), 1, CORE.all_topics(TopicNames())
        )
        ids = list(await seed(stack.mongodb_uri, database, args.products))
        bodies = [orjson.dumps({"query": QUERY.format(id=pid)}) for pid in ids]
        env = server_env(stack, database)
        results: dict[str, Any] = {}
        answers: dict[str, Any] = {}
        runs = {
            "gateway": ("gateway", env),
            "gateway, cache off": ("gateway", {**env, "SHOPWINDOW_DOCUMENT_CACHE_MB": "0"}),
            "baseline": ("baseline", env),
        }
        for name, (factory, server_environment) in runs.items():
            port = free_port()
            process = await start_server(factory, port, server_environment)
            try:
                async with httpx.AsyncClient() as client:
                    response = await client.post(
                        f"http://127.0.0.1:{port}/graphql",
                        content=bodies[0],
                        headers={"content-type": "application/json"},
                    )
                    # The same data; the gateway's own extensions (its cost report) aside.
                    answers[name] = response.json()["data"]
                await load(port, bodies, args.concurrency, 2)  # Warm-up.
                errors, latencies = await load(port, bodies, args.concurrency, args.seconds)
                results[name] = (len(latencies) / args.seconds, latencies, errors)
            finally:
                process.terminate()
                await process.wait()
    if len({orjson.dumps(answer) for answer in answers.values()}) != 1:
        raise SystemExit(f"the servers answer differently:\n{answers}")
    (a_rate, a_lat, a_err), (b_rate, b_lat, b_err) = results["gateway"], results["baseline"]
    c_rate, c_lat, c_err = results["gateway, cache off"]
    rows = []
    for label, rate, latencies, errors in (
        ("a gateway", a_rate, a_lat, a_err),
        ("c gateway, document cache off", c_rate, c_lat, c_err),
        ("b bare Starlette", b_rate, b_lat, b_err),
    ):
        rows.append((f"{label} req/s", f"{rate:,.0f}  (errors: {errors})"))
        rows.append(
            (
                f"{label} p50 / p99",
                f"{percentile(latencies, 0.5) * 1000:.1f} / "
                f"{percentile(latencies, 0.99) * 1000:.1f} ms",
            )
        )
    rows.append(("ratio a/b", f"{a_rate / b_rate:.2f}  (target >= 0.3)"))
    rows.append(("ratio c/b", f"{c_rate / b_rate:.2f}"))
    report(
        f"gateway: product-page query, {args.concurrency} connections, {args.seconds:.0f} s each, "
        f"{args.products} products",
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
