"""Live updates at scale: change-to-client latency and memory per subscription.

    make bench-live            # or: python -m bench.live --help

A gateway process serves N subscriptions (``stockChanged``) spread over WebSocket
connections (graphql-transport-ws) and M products. Changes are injected into the
changelog topic at a fixed rate, as the materializer would publish them; each client
records the time from the change's production to its arrival. Memory per subscription
is the gateway's resident memory growth divided by N.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid

import websockets
from aiokafka import AIOKafkaProducer

from bench.common import percentile, report, rss_bytes, servers, wait_until
from bench.gateway import seed, server_env, start_server
from shopwindow.kafka_admin import create_topics
from shopwindow.materializer.publishing import changelog_record
from shopwindow.materializer.sources import CORE
from shopwindow.topics import TopicNames

# With a variable, as client libraries send it: one operation text for every product.
SUBSCRIBE = "subscription Stock($id: ID!) { stockChanged(productId: $id) { productId version } }"


class Clients:
    """WebSocket connections carrying the subscriptions, recording arrivals."""

    def __init__(self, produced_at: dict[tuple[str, int], float]) -> None:
        self.produced_at = produced_at
        self.latencies: list[float] = []
        self.initial = 0
        self.recording = False

    async def connection(self, url: str, product_ids: list[str]) -> None:
        async with websockets.connect(
            url,
            subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
            max_queue=None,
            open_timeout=60,
            ping_interval=None,
        ) as socket:
            await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
            await socket.recv()
            for n, product_id in enumerate(product_ids):
                await socket.send(
                    json.dumps(
                        {
                            "id": str(n),
                            "type": "subscribe",
                            "payload": {"query": SUBSCRIBE, "variables": {"id": product_id}},
                        }
                    )
                )
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


async def run(args: argparse.Namespace) -> None:
    async with servers() as stack:
        run_id = uuid.uuid4().hex[:8]
        database = f"bench_live_{run_id}"
        topics = TopicNames().with_prefix(f"live{run_id}.")
        await create_topics(stack.kafka_bootstrap_servers, topics, 4, CORE.all_topics(topics))
        docs = await seed(stack.mongodb_uri, database, args.products)
        ids = list(docs)
        env = server_env(stack, database) | {
            "SHOPWINDOW_TOPICS__CHANGELOG": topics.changelog,
            "SHOPWINDOW_WS_MAX_SUBSCRIPTIONS_PER_CONNECTION": str(args.per_connection),
        }
        gateway, port = await start_server("gateway", env)
        produced_at: dict[tuple[str, int], float] = {}
        clients = Clients(produced_at)
        try:
            await asyncio.sleep(2)  # The changelog reader finds its partitions.
            rss_before = rss_bytes(gateway.pid)
            rng = random.Random(5)
            connections = args.subscriptions // args.per_connection
            url = f"ws://127.0.0.1:{port}/graphql"
            tasks = []
            for _ in range(connections):
                chosen = [rng.choice(ids) for _ in range(args.per_connection)]
                tasks.append(asyncio.create_task(clients.connection(url, chosen)))
                await asyncio.sleep(0)
            started = time.perf_counter()
            await wait_until(lambda: clients.initial >= connections * args.per_connection, 0.1)
            subscribe_s = time.perf_counter() - started
            await asyncio.sleep(1)
            rss_after = rss_bytes(gateway.pid)

            producer = AIOKafkaProducer(
                bootstrap_servers=stack.kafka_bootstrap_servers,
                enable_idempotence=False,
                linger_ms=2,
            )
            await producer.start()
            clients.recording = True
            sent = 0
            loop = asyncio.get_running_loop()
            begin = loop.time()
            try:
                while loop.time() - begin < args.seconds:
                    product_id = rng.choice(ids)
                    doc = docs[product_id]
                    doc["version"] += 1
                    doc["stock"]["available"] = rng.randint(0, 50)
                    record = changelog_record(topics.changelog, product_id, doc, CORE.sections)
                    produced_at[(product_id, doc["version"])] = time.perf_counter()
                    await producer.send(
                        record.topic, record.value, key=record.key, headers=record.headers
                    )
                    sent += 1
                    delay = begin + sent / args.rate - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await producer.flush()
            finally:
                await producer.stop()
            await asyncio.sleep(2)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            gateway.terminate()
            await gateway.wait()
    total = connections * args.per_connection
    latencies = clients.latencies
    report(
        f"live: {total} subscriptions on {connections} connections over {args.products} products,"
        f" {args.rate:.0f} changes/s for {args.seconds:.0f} s",
        [
            ("subscribed (current value received) in", f"{subscribe_s:.1f} s"),
            ("changes produced", f"{sent}"),
            ("updates received", f"{len(latencies)}"),
            ("latency p50", f"{percentile(latencies, 0.5) * 1000:.0f} ms"),
            ("latency p99", f"{percentile(latencies, 0.99) * 1000:.0f} ms  (target < 500 ms)"),
            (
                "gateway memory per subscription",
                f"{(rss_after - rss_before) / total / 1024:.1f} KiB",
            ),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--per-connection", type=int, default=20)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200, help="changes per second")
    parser.add_argument("--seconds", type=float, default=20)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
