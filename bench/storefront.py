"""How soon a stock change produced to Kafka shows on an open storefront page.

The whole pipeline runs (stand-ins unless configured, a materializer, a gateway serving
the storefront) and headless Chromium keeps a product page open, live over
graphql-transport-ws. Each round produces a stock take and times until the page shows
it. The baseline, in the same rounds: until a GraphQL query over HTTP, polling every
10 ms, first returns it. Target: on the page within 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from bench.browser import chromium
from bench.common import fresh_topics, percentile, report, servers
from shopwindow.gateway.app import create_app
from shopwindow.http_server import HttpServer
from shopwindow.materializer.service import Materializer
from shopwindow.materializer.sources import CORE
from shopwindow.settings import GatewaySettings, MaterializerSettings

STOCK = 'query { product(id: "abc") { stock { available } } }'


async def http_sees(http: httpx.AsyncClient, quantity: int) -> float:
    while True:
        body = (await http.post("/graphql", json={"query": STOCK})).json()
        product = body["data"]["product"]
        if product and product["stock"]["available"] == quantity:
            return time.perf_counter()
        await asyncio.sleep(0.01)


async def run(args: argparse.Namespace) -> None:
    async with servers() as stack:
        bootstrap = stack.kafka_bootstrap_servers
        run_id, topics = await fresh_topics(bootstrap, 1)
        connection: dict[str, Any] = {
            "kafka_bootstrap_servers": bootstrap,
            "mongodb_uri": stack.mongodb_uri,
            "mongodb_database": f"bench_{run_id}",
            "topics": topics,
        }
        names = {t.setting: topics.source(t.setting, t.default_name) for t in CORE.topics}
        catalog, inventory = names["catalog"], names["inventory"]
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
        await producer.start()

        async def send(topic: str, value: dict[str, Any]) -> None:
            await producer.send_and_wait(topic, json.dumps(value).encode(), key=b"abc")

        now = datetime.now(UTC).isoformat()
        await send(catalog, {"product_id": "abc", "name": "Trail shoe", "updated_at": now})
        await send(inventory, {"product_id": "abc", "quantity": 1000, "timestamp": now})
        materializer = Materializer(
            MaterializerSettings(
                **connection, materializer_group_id=f"bench-{run_id}", poll_timeout_ms=20
            ),
            serve_http=False,
        )
        gateway = HttpServer(
            create_app(GatewaySettings(**connection, storefront=True, search_enabled=False)),
            "127.0.0.1",
            0,
        )
        page_s: list[float] = []
        http_s: list[float] = []
        try:
            async with materializer, chromium() as browser:
                task = asyncio.create_task(materializer.run())
                await gateway.start()
                base_url = f"http://127.0.0.1:{gateway.port}"
                page = await browser.new_page()
                await page.goto(f"{base_url}/#/product/abc")
                await page.wait_for_function(
                    "document.querySelector('#connection')?.textContent === 'live'"
                )
                stock = page.get_by_test_id("stock")
                async with httpx.AsyncClient(base_url=base_url) as http:
                    for round_number in range(args.rounds):
                        quantity = 500 + round_number
                        at = datetime.now(UTC).isoformat()
                        started = time.perf_counter()
                        await send(
                            inventory, {"product_id": "abc", "quantity": quantity, "timestamp": at}
                        )
                        seen_by_http = asyncio.create_task(http_sees(http, quantity))
                        await stock.filter(has_text=f"{quantity} available").wait_for(
                            timeout=30_000
                        )
                        page_s.append(time.perf_counter() - started)
                        http_s.append(await seen_by_http - started)
                        await asyncio.sleep(0.2)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        finally:
            await gateway.stop()
            await producer.stop()
    report(
        f"storefront: a stock change produced to Kafka, until shown ({args.rounds} rounds)",
        [
            ("on the open page p50 / p95 / max", _row(page_s) + "  (target max <= 2000 ms)"),
            ("baseline: HTTP query, 10 ms polls", _row(http_s)),
            (
                "page / HTTP, p50",
                f"{percentile(page_s, 0.5) / max(percentile(http_s, 0.5), 1e-9):.2f}",
            ),
        ],
    )


def _row(values: list[float]) -> str:
    return " / ".join(f"{percentile(values, q) * 1000:.0f}" for q in (0.5, 0.95, 1.0)) + " ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
