"""Live updates at scale: subscribing, change-to-client latency and memory, against a raw
WebSocket broadcast of the same payloads.

    make bench-live            # or: python -m bench.live --help

Each scenario runs a fresh server process; subscriptions (``stockChanged`` with the
product id in a variable) are spread over WebSocket connections (graphql-transport-ws)
and products, and changes are produced to the changelog at a fixed rate, as the
materializer would publish them.

* ``gateway, 10,000``: 10,000 subscriptions, 20 per connection, as servers (BFFs,
  storefront renderers) hold them.
* ``gateway, 50,000``: five times the subscriptions on one gateway process.
* ``phones``: 10,000 connections of 2 subscriptions each, as a mobile fleet holds
  them: one connection per app, for the product on screen and the cart.
* ``raw broadcast``: ``bench/live_baseline.py``, a bare ``websockets`` server reading
  the same changelog and broadcasting the same payloads to the same subscriptions, with
  nothing of GraphQL; run for the 10,000 and the phones scenarios alike, with the
  library's default keepalive pings as the gateway pings, and for the phones once more
  without pings: the library's floor (its ping bursts show in its p99).

Measured: the time from the first connection opening to every subscription's first
value; the time from producing a change to a client receiving it (p50/p99); the
server's resident memory growth per subscription and per connection. At most
``OPENING`` connections are opening at once, as clients reconnecting after a deploy
arrive spread out (and as the accept backlog allows). The load generator runs on the
same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import websockets
from aiokafka import AIOKafkaProducer

from bench.common import cpu_seconds, percentile, report, rss_bytes, servers, wait_until
from bench.gateway import seed, server_env, start_server
from bench.http_load import accepting
from shopwindow.devstack import DevStack
from shopwindow.devstack.process import free_port
from shopwindow.kafka_admin import create_topics
from shopwindow.materializer.publishing import changelog_record
from shopwindow.materializer.sources import CORE
from shopwindow.topics import TopicNames

# With a variable, as client libraries send it: one operation text for every product.
SUBSCRIBE = "subscription Stock($id: ID!) { stockChanged(productId: $id) { productId version } }"
# Connections opening at once: below the server's accept backlog (uvicorn's 2,048).
OPENING = 500


class Clients:
    """WebSocket connections carrying the subscriptions, recording arrivals."""

    def __init__(self, produced_at: dict[tuple[str, int], float]) -> None:
        self.produced_at = produced_at
        self.opening = asyncio.Semaphore(OPENING)
        self.latencies: list[float] = []
        self.initial = 0
        self.recording = False

    async def connection(self, url: str, product_ids: list[str]) -> None:
        async with self.opening:
            socket = await websockets.connect(
                url,
                subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
                max_queue=None,
                open_timeout=60,
                ping_interval=None,
            )
            await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
            await socket.recv()
            for n, product_id in enumerate(product_ids):
                payload = {"query": SUBSCRIBE, "variables": {"id": product_id}}
                await socket.send(
                    json.dumps({"id": str(n), "type": "subscribe", "payload": payload})
                )
        async with socket:
            async for raw in socket:
                message = json.loads(raw)
                if message.get("type") != "next":
                    continue
                update = message["payload"]["data"]["stockChanged"]
                produced = self.produced_at.get((update["productId"], update["version"]))
                if produced is None:
                    self.initial += 1
                elif self.recording:
                    self.latencies.append(time.perf_counter() - produced)


@dataclass
class Outcome:
    subscriptions: int
    connections: int
    subscribe_s: float
    produced: int
    latencies: list[float]
    memory_growth: int
    cpu_share: float

    @property
    def memory_per_subscription(self) -> float:
        return self.memory_growth / self.subscriptions

    @property
    def memory_per_connection(self) -> float:
        return self.memory_growth / self.connections


@dataclass
class World:
    stack: DevStack
    topics: TopicNames
    docs: dict[str, dict[str, Any]]
    env: dict[str, str]


async def scenario(
    world: World,
    start: Callable[[], Awaitable[tuple[asyncio.subprocess.Process, int]]],
    subscriptions: int,
    per_connection: int,
    args: argparse.Namespace,
) -> Outcome:
    """One server, ``subscriptions`` subscribing at once, then changes at ``args.rate``."""
    process, port = await start()
    produced_at: dict[tuple[str, int], float] = {}
    clients = Clients(produced_at)
    rng = random.Random(5)
    ids = list(world.docs)
    tasks = []
    try:
        await asyncio.sleep(2)  # The changelog reader finds its partitions.
        rss_before = rss_bytes(process.pid)
        connections = subscriptions // per_connection
        url = f"ws://127.0.0.1:{port}/graphql"
        started = time.perf_counter()
        for _ in range(connections):
            chosen = [rng.choice(ids) for _ in range(per_connection)]
            tasks.append(asyncio.create_task(clients.connection(url, chosen)))
            await asyncio.sleep(0)
        async with asyncio.timeout(300):
            await wait_until(lambda: clients.initial >= connections * per_connection, 0.05)
        subscribe_s = time.perf_counter() - started
        await asyncio.sleep(1)
        rss_after = rss_bytes(process.pid)
        clients.recording = True
        cpu_before, changes_began = cpu_seconds(process.pid), time.perf_counter()
        produced = await produce_changes(world, rng, produced_at, args)
        cpu_share = (cpu_seconds(process.pid) - cpu_before) / (time.perf_counter() - changes_began)
        await asyncio.sleep(2)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        process.terminate()
        await process.wait()
    return Outcome(
        subscriptions,
        connections,
        subscribe_s,
        produced,
        clients.latencies,
        rss_after - rss_before,
        cpu_share,
    )


async def produce_changes(
    world: World,
    rng: random.Random,
    produced_at: dict[tuple[str, int], float],
    args: argparse.Namespace,
) -> int:
    """Stock changes of random products at ``args.rate`` for ``args.seconds``."""
    producer = AIOKafkaProducer(
        bootstrap_servers=world.stack.kafka_bootstrap_servers,
        enable_idempotence=False,  # The Tansu stand-in refuses idempotent producers.
        linger_ms=2,
    )
    await producer.start()
    ids = list(world.docs)
    sent = 0
    loop = asyncio.get_running_loop()
    begin = loop.time()
    try:
        while loop.time() - begin < args.seconds:
            product_id = rng.choice(ids)
            doc = world.docs[product_id]
            doc["version"] += 1
            doc["stock"]["available"] = rng.randint(0, 50)
            record = changelog_record(world.topics.changelog, product_id, doc, CORE.sections)
            produced_at[(product_id, doc["version"])] = time.perf_counter()
            await producer.send(record.topic, record.value, key=record.key, headers=record.headers)
            sent += 1
            delay = begin + sent / args.rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def start_baseline(
    world: World, ping_interval_s: float = 20
) -> tuple[asyncio.subprocess.Process, int]:
    """The raw broadcast server, once it accepts connections; ``ping_interval_s`` 0
    sends no keepalive pings."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.live_baseline",
        "--port",
        str(port),
        "--bootstrap-servers",
        world.stack.kafka_bootstrap_servers,
        "--topic",
        world.topics.changelog,
        "--ping-interval-s",
        str(ping_interval_s),
    )
    await accepting(process, port, "the baseline")
    return process, port


def _ms(values: list[float], fraction: float) -> float:
    return percentile(values, fraction) * 1000


async def run(args: argparse.Namespace) -> None:
    async with servers() as stack:
        run_id = uuid.uuid4().hex[:8]
        database = f"bench_live_{run_id}"
        topics = TopicNames().with_prefix(f"live{run_id}.")
        await create_topics(stack.kafka_bootstrap_servers, topics, 4, CORE.all_topics(topics))
        docs = await seed(stack.mongodb_uri, database, args.products)
        env = server_env(stack, database) | {
            "SHOPWINDOW_TOPICS__CHANGELOG": topics.changelog,
            "SHOPWINDOW_TOPICS__PROGRESS": topics.progress,
        }
        world = World(stack, topics, docs, env)

        def gateway() -> Awaitable[tuple[asyncio.subprocess.Process, int]]:
            return start_server("gateway", env)

        if "servers" in args.scenarios:
            small = await scenario(world, gateway, args.subscriptions, 20, args)
            large = await scenario(world, gateway, args.large_subscriptions, 100, args)
            raw = await scenario(world, lambda: start_baseline(world), args.subscriptions, 20, args)
            _report_servers(args, small, large, raw)
        if "phones" in args.scenarios:
            phones = args.phones * 2
            phones_gateway = await scenario(world, gateway, phones, 2, args)
            phones_raw = await scenario(world, lambda: start_baseline(world), phones, 2, args)
            phones_floor = await scenario(
                world, lambda: start_baseline(world, ping_interval_s=0), phones, 2, args
            )
            _report_phones(args, phones_gateway, phones_raw, phones_floor)


def _report_servers(args: argparse.Namespace, small: Outcome, large: Outcome, raw: Outcome) -> None:
    for name, outcome, targets in (
        ("gateway", small, True),
        ("gateway", large, False),
        ("raw websockets broadcast (baseline)", raw, False),
    ):

        def row(label: str, value: str, target: str) -> tuple[str, str]:
            return label, value + (f"  (target {target})" if targets else "")  # noqa: B023

        report(
            _title(name, outcome, args),
            [
                row(
                    "first values, from the connections opening",
                    f"{outcome.subscribe_s:.1f} s",
                    "<= 5 s",
                ),
                *_flow(outcome),
                row("change to client p99", f"{_ms(outcome.latencies, 0.99):.0f} ms", "<= 250 ms"),
                ("server CPU while changes flow", f"{outcome.cpu_share:.0%} of one core"),
                row(
                    "server memory per subscription",
                    f"{outcome.memory_per_subscription / 1024:.1f} KiB",
                    "<= 4 KiB",
                ),
            ],
        )
    report(
        "live, gateway against the raw broadcast, same subscriptions and changes",
        [
            (
                "change to client p50, gateway / raw",
                f"{_ms(small.latencies, 0.5) / _ms(raw.latencies, 0.5):.2f}",
            ),
            (
                "change to client p99, gateway / raw",
                f"{_ms(small.latencies, 0.99) / _ms(raw.latencies, 0.99):.2f}  (target <= 2)",
            ),
        ],
    )


def _report_phones(
    args: argparse.Namespace, gateway: Outcome, raw: Outcome, floor: Outcome
) -> None:
    for name, outcome in (
        ("gateway, phones", gateway),
        ("raw broadcast, phones (keepalive pings, as the gateway)", raw),
        ("raw broadcast, phones, no keepalive pings (the library's floor)", floor),
    ):
        report(
            _title(name, outcome, args),
            [
                ("first values, from the connections opening", f"{outcome.subscribe_s:.1f} s"),
                *_flow(outcome),
                ("change to client p99", f"{_ms(outcome.latencies, 0.99):.0f} ms"),
                ("server CPU while changes flow", f"{outcome.cpu_share:.0%} of one core"),
                (
                    "server memory per connection",
                    f"{outcome.memory_per_connection / 1024:.1f} KiB",
                ),
            ],
        )
    gateway_p99, raw_p99 = _ms(gateway.latencies, 0.99), _ms(raw.latencies, 0.99)
    report(
        "live, phones: the gateway against the raw broadcast, same connections and changes",
        [
            (
                "first values, from the connections opening",
                f"{gateway.subscribe_s:.1f} s  (target <= 10 s)",
            ),
            ("change to client p99", f"{gateway_p99:.0f} ms  (target <= 100 ms)"),
            (
                "change to client p99, gateway / raw",
                f"{gateway_p99 / raw_p99:.2f}  (target <= 1.5)",
            ),
            (
                "memory per connection",
                f"{gateway.memory_per_connection / 1024:.1f} KiB  (target <= 16 KiB)",
            ),
            (
                "memory per connection, gateway / raw",
                f"{gateway.memory_per_connection / raw.memory_per_connection:.2f}  "
                "(target <= 1.25)",
            ),
            (
                "change to client p99, gateway / raw without pings",
                f"{gateway_p99 / _ms(floor.latencies, 0.99):.2f}",
            ),
            (
                "memory per connection, gateway / raw without pings",
                f"{gateway.memory_per_connection / floor.memory_per_connection:.2f}",
            ),
        ],
    )


def _title(name: str, outcome: Outcome, args: argparse.Namespace) -> str:
    return (
        f"live, {name}: {outcome.subscriptions:,} subscriptions on {outcome.connections:,} "
        f"connections over {args.products:,} products, {args.rate:.0f} changes/s for "
        f"{args.seconds:.0f} s"
    )


def _flow(outcome: Outcome) -> list[tuple[str, str]]:
    return [
        ("changes produced / updates received", f"{outcome.produced} / {len(outcome.latencies)}"),
        ("change to client p50", f"{_ms(outcome.latencies, 0.5):.0f} ms"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--large-subscriptions", type=int, default=50_000)
    parser.add_argument(
        "--scenarios",
        nargs="+",
        choices=("servers", "phones"),
        default=("servers", "phones"),
        help="servers: 10,000 and 50,000 subscriptions on few connections; phones: "
        "connections of 2 subscriptions each",
    )
    parser.add_argument(
        "--phones", type=int, default=10_000, help="connections of 2 subscriptions each"
    )
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200, help="changes per second")
    parser.add_argument("--seconds", type=float, default=20)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
