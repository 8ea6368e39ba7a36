"""``shopwindow rebuild`` under load: clients read and follow products through the switch.

A live materializer and a gateway serve ``--products`` products while demo traffic
flows; HTTP readers and WebSocket subscribers count every request and every version
they see. ``shopwindow rebuild`` then builds generation 1 from the topics and switches
to it. Printed: requests served and failed, the largest version step back any client
saw, the time to switch, and the baseline of the same run: rebuilding in place, which
serves nothing for as long as the build takes.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from rich.console import Console

from bench.common import fresh_topics, report, servers
from bench.materializer import produce, produce_at_rate
from bench.rebuild_load import ClientLoad
from shopwindow.demo_events import DemoEvents
from shopwindow.gateway.app import create_app
from shopwindow.generations import products_collection
from shopwindow.http_server import HttpServer
from shopwindow.materializer.service import Materializer
from shopwindow.materializer.sources import CORE
from shopwindow.mongo import MongoDocument, mongo_client
from shopwindow.rebuild import Rebuild
from shopwindow.settings import GatewaySettings, MaterializerSettings


async def run(args: argparse.Namespace) -> None:
    async with servers() as stack:
        bootstrap = stack.kafka_bootstrap_servers
        run_id, topics = await fresh_topics(bootstrap, args.partitions)
        products = [f"p{n:06d}" for n in range(args.products)]
        events = DemoEvents(topics, products, random.Random(7))
        seeded = list(events.initial(datetime.now(UTC)))
        await produce(bootstrap, seeded)
        connection: dict[str, Any] = {
            "kafka_bootstrap_servers": bootstrap,
            "mongodb_uri": stack.mongodb_uri,
            "mongodb_database": f"bench_{run_id}",
            "topics": topics,
        }
        materializer_settings = MaterializerSettings(
            **connection, materializer_group_id=f"bench-{run_id}", poll_timeout_ms=20
        )
        gateway = HttpServer(
            create_app(GatewaySettings(**connection, search_enabled=False)), "127.0.0.1", 0
        )
        client = mongo_client(stack.mongodb_uri, "shopwindow-bench")
        served = client[f"bench_{run_id}"][products_collection(0)]
        async with Materializer(materializer_settings, serve_http=False) as live:
            live_task = asyncio.create_task(live.run())
            await gateway.start()
            await until_stored(served, args.products)
            base_url = f"http://127.0.0.1:{gateway.port}"
            traffic = asyncio.create_task(
                produce_at_rate(bootstrap, events, args.rate, args.seconds_after + 600)
            )
            async with ClientLoad(
                base_url, products[:20], readers=args.readers, subscribers=args.subscribers
            ) as load:
                async with Rebuild(materializer_settings, CORE, Console()) as rebuild:
                    started = time.perf_counter()
                    switch = await rebuild.run()
                    build_and_switch_s = time.perf_counter() - started
                await asyncio.sleep(args.seconds_after)
            traffic.cancel()
            await asyncio.gather(traffic, return_exceptions=True)
            await gateway.stop()
            live_task.cancel()
            await asyncio.gather(live_task, return_exceptions=True)
        await client.close()

        observed = load.observed
        replayed = len(seeded)
        build_s = build_and_switch_s - switch.seconds
        report(
            f"rebuild under load: {args.products:,} products, demo traffic at "
            f"{args.rate:,.0f} events/s, {args.readers} HTTP readers and "
            f"{args.subscribers} subscribers on 20 products",
            [
                ("records replayed (seed; plus traffic)", f"{replayed:,}+"),
                ("build, start to caught up", f"{build_s:.1f} s"),
                ("time to switch (members paused)", f"{switch.seconds:.2f} s"),
                (
                    "  of which",
                    ", ".join(f"{name} {secs:.2f} s" for name, secs in switch.phases.items()),
                ),
                ("live members paused", str(switch.members)),
                ("versions raised at the switch", f"{switch.raised:,}"),
                ("documents announced", f"{switch.announced:,}"),
                ("requests served", f"{observed.requests:,}"),
                ("failed requests", f"{observed.failures}  (target 0)"),
                ("subscription updates", f"{observed.updates:,}"),
                ("largest version step back", f"{observed.largest_step_back}  (target 0)"),
            ],
        )
        report(
            "baseline: rebuilding in place (drop, then fold from the beginning)",
            [
                ("time serving nothing, baseline", f"{build_s:.1f} s"),
                ("time serving nothing, rebuild", "0 s (failed requests above)"),
                (
                    "materialization paused, rebuild / baseline",
                    f"{switch.seconds / max(build_s, 1e-9):.3f}",
                ),
            ],
        )
        if observed.failure_samples:
            print("  failures, first few:", *observed.failure_samples, sep="\n    ")


async def until_stored(collection: AsyncCollection[MongoDocument], count: int) -> None:
    # Visible: a product whose stock arrived before its catalog is stored but not served.
    while await collection.count_documents({"visible": True}) < count:  # noqa: ASYNC110
        await asyncio.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--rate", type=float, default=100.0, help="demo events per second")
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--subscribers", type=int, default=4)
    parser.add_argument("--seconds-after", type=float, default=3.0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
