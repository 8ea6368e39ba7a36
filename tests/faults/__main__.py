"""``make faults``: outages and network faults against a whole deployment.

Each scenario runs two materializers, two gateways, HTTP readers and subscribers on
both WebSocket protocols while a mixed event stream arrives at a steady rate; the
fault strikes after a warm-up and lasts ``--fault-s``. Every scenario ends with three
checks:

- the documents equal what one clean pass makes of the same records, versions and
  counters included;
- no subscriber saw a version go back, and each ends on the current stock of every
  product it follows;
- no reader got a 5xx other than 503, and every 503 came while that gateway's
  ``/readyz`` said it was not ready.

Run as ``python -m tests.faults [--only NAME ...]``; one line per scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from shopwindow.demo_events import product_ids
from shopwindow.document import COLLECTION
from shopwindow.kafka_admin import create_topics
from shopwindow.kafka_start import start_kafka_client
from shopwindow.materializer.sources import CORE
from shopwindow.mongo import mongo_client
from shopwindow.topics import TopicNames
from tests import kinds
from tests.chaos import clean_pass, documents, lag, produce, stream
from tests.faults.clients import Clients, Readiness, current_stock, stop_quietly, visible
from tests.faults.deployment import Role, Servers, deployment
from tests.faults.fleet import Fleet
from tests.faults.scenarios import Scenario, scenarios
from tests.helpers import encode
from tests.materializer.conftest import catalog, stock_take

MARKER = "zz-fault-marker"  # Not a demo product: only the recovery probe changes it.
FOLLOWED = 20


async def send_marker(bootstrap: str, topics: TopicNames, quantity: int) -> None:
    """The marker product's catalog record (quantity 0) and a stock take of ``quantity``;
    retried, since the links may still be failing."""
    for attempt in range(30):
        try:
            await _send_marker(bootstrap, topics, quantity)
            return
        except KafkaError:
            if attempt == 29:
                raise
            await asyncio.sleep(1)


async def _send_marker(bootstrap: str, topics: TopicNames, quantity: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=5000)
    await start_kafka_client(producer)
    try:
        if quantity == 0:
            value = catalog(MARKER)
            await producer.send_and_wait(
                kinds.CATALOG.name_in(topics), encode(value), key=MARKER.encode()
            )
        value = stock_take(quantity, MARKER, minutes=quantity)  # Each later than the last.
        await producer.send_and_wait(
            kinds.INVENTORY.name_in(topics), encode(value), key=MARKER.encode()
        )
    finally:
        await producer.stop()


async def recovered_after_s(
    bootstrap: str, topics: TopicNames, gateways: list[Role], quantity: int, limit_s: float
) -> float:
    """How long a change made now takes to be served by every gateway."""
    started = time.monotonic()
    query = {"query": f'{{ product(id: "{MARKER}") {{ stock {{ available }} }} }}'}
    await send_marker(bootstrap, topics, quantity)
    pending = set(range(len(gateways)))
    async with httpx.AsyncClient(timeout=5) as http:
        while pending and time.monotonic() - started < limit_s:
            for n in list(pending):
                try:
                    body = (await http.post(f"{gateways[n].url}/graphql", json=query)).json()
                    if ((body.get("data") or {}).get("product") or {}).get("stock", {}).get(
                        "available"
                    ) == quantity:
                        pending.discard(n)
                except (httpx.HTTPError, ValueError):
                    pass
            await asyncio.sleep(0.1)
    return time.monotonic() - started if not pending else float("inf")


async def stored_versions(uri: str, database: str, ids: list[str]) -> dict[str, int]:
    """The version MongoDB holds of each of ``ids``, read past the proxies."""
    client = mongo_client(uri, "shopwindow-faults", timeoutMS=10_000)
    try:
        cursor = client[database][COLLECTION].find({"_id": {"$in": ids}}, {"version": 1})
        return {doc["_id"]: int(doc["version"]) async for doc in cursor}
    finally:
        await client.close()


async def run_scenario(
    servers: Servers, scenario: Scenario, args: argparse.Namespace, log_root: Path
) -> bool:
    run_id = uuid.uuid4().hex[:8]
    topics = TopicNames().with_prefix(f"f{run_id}.")
    database = f"faults_{run_id}"
    bootstrap = servers.kafka_bootstrap_servers
    await create_topics(bootstrap, topics, args.partitions, CORE.all_topics(topics))
    records = stream(topics, args.events, args.products)
    followed = product_ids(args.products)[:FOLLOWED]
    log_dir = log_root / scenario.name
    log_dir.mkdir(parents=True, exist_ok=True)
    await send_marker(bootstrap, topics, 0)
    async with deployment(servers, topics, database, log_dir) as roles:
        gateways = [role for role in roles if role.name.startswith("gateway")]
        readiness = Readiness(roles)
        sampling = asyncio.create_task(readiness.run())
        producing = asyncio.create_task(produce(bootstrap, records, args.rate))
        # A product that does not exist yet drops out of a subscription at once: the
        # clients start once the catalog is in.
        await visible(gateways, followed, args.settle_s)
        fleet = Fleet(gateways, followed, args.fleet_clients, args.fleet_per_client)
        async with Clients(gateways, followed) as clients, fleet:
            await asyncio.sleep(args.warmup_s)
            fleet.mark(await stored_versions(servers.direct_mongodb_uri, database, followed))
            await scenario.begin(servers, roles)
            clients.faulting = True
            await asyncio.sleep(args.fault_s)
            evidence = await scenario.evidence(servers, roles) if scenario.evidence else None
            clients.faulting = False
            await scenario.end(servers, roles)
            recovery_s = await recovered_after_s(bootstrap, topics, gateways, 1, args.settle_s)
            lost = await producing
            deadline = time.monotonic() + args.settle_s
            while (behind := await lag(bootstrap, f"faults-{database}", topics)) > 0:
                if time.monotonic() > deadline:
                    clients.seen.note(f"the group was still {behind} records behind")
                    break
                await asyncio.sleep(1)
            await asyncio.sleep(3)  # The changelog reaches the subscribers.
        await stop_quietly(sampling)
        current = await current_stock(gateways[0], followed)
    seen = clients.seen
    stale = sum(
        1
        for latest in clients.latest
        for product_id, stock in current.items()
        if (latest.get(product_id) or {}).get("stock") != stock
    )
    for n, latest in enumerate(clients.latest):
        wrong = [
            (product_id, (latest.get(product_id) or {}), stock)
            for product_id, stock in current.items()
            if (latest.get(product_id) or {}).get("stock") != stock
        ]
        for product_id, had, now in wrong[:2]:
            seen.note(f"subscriber {n} ends on {product_id} {had}, current {now}")
    fleet_stale = fleet.stale(current)
    reconnected = fleet.reconnected()
    unexplained = [
        (gateway, when)
        for gateway, when in seen.unavailable
        if not readiness.unready_near(gateway, when)
    ]
    await clean_pass(bootstrap, servers.direct_mongodb_uri, topics, f"clean_{run_id}")
    chaotic = await documents(servers.direct_mongodb_uri, database)
    clean = await documents(servers.direct_mongodb_uri, f"clean_{run_id}")
    different = sorted(
        pid for pid in clean.keys() | chaotic.keys() if clean.get(pid) != chaotic.get(pid)
    )
    differ = len(different)
    for product_id in different[:3]:
        ours, theirs = chaotic.get(product_id) or {}, clean.get(product_id) or {}
        fields = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
        seen.note(
            f"{product_id} differs: "
            + "; ".join(f"{k} {ours.get(k)!r} (clean pass {theirs.get(k)!r})" for k in fields)
        )
    ok = (
        differ == 0
        and bool(clean)
        and seen.largest_step_back == 0
        and stale == 0
        and seen.server_errors == 0
        and not unexplained
        and recovery_s != float("inf")
        and evidence != ""
        and fleet.seen.values > 0
        and fleet.seen.largest_step_back == 0
        and fleet.seen.stale_first_values == 0
        and fleet.seen.ended == 0
        and fleet_stale == 0
        and reconnected >= scenario.fleet_reconnects * fleet.size
        and seen.without_freshness == 0
        and (not scenario.cached_answers or seen.served_during_fault > 0)
    )
    print(
        f"{scenario.name:<18} sends lost {lost:>3}  served {seen.served:>6}"
        f" ({seen.served_during_fault} during the fault, {seen.without_freshness} without"
        " freshness)"
        f"  failed {seen.failed:>4}"
        f"  503 {len(seen.unavailable):>4} (unexplained {len(unexplained)})"
        f"  5xx {seen.server_errors}  updates {seen.updates:>5}"
        f"  reconnects {seen.reconnects:>3}  step back {seen.largest_step_back}"
        f"  stale subscribers {stale}"
        f"  fleet: {fleet.size} subscriptions, {fleet.seen.values} values,"
        f" {reconnected} reconnected, step back {fleet.seen.largest_step_back},"
        f" stale first values {fleet.seen.stale_first_values}, ended {fleet.seen.ended},"
        f" stale {fleet_stale}"
        f"  documents differ {differ}/{len(clean)}"
        f"  recovered {recovery_s:.1f} s"
        + ("" if evidence is None else f"  fault: {evidence or 'no sign it took hold'}")
        + f"  {'ok' if ok else 'FAILED'}",
        flush=True,
    )
    for sample in [*seen.samples, *fleet.seen.samples]:
        print(f"    {sample}")
    return ok


async def run(args: argparse.Namespace) -> int:
    chosen = [s for s in scenarios() if not args.only or s.name in args.only]
    with contextlib.ExitStack() as stack:
        root = args.keep or stack.enter_context(
            tempfile.TemporaryDirectory(prefix="shopwindow-faults-")
        )
        servers = Servers(Path(root))
        await servers.start()
        try:
            print(
                f"== faults: {args.events:,} events at {args.rate:.0f}/s per scenario, fault "
                f"for {args.fault_s:.0f} s after {args.warmup_s:.0f} s; 2 materializers, "
                f"2 gateways, {2 * 2} readers, 4 subscribers (both protocols), and"
                f" {args.fleet_clients * args.fleet_per_client:,} subscriptions on"
                f" {args.fleet_clients} reference graphql-ws clients"
            )
            results = [await run_scenario(servers, s, args, Path(root)) for s in chosen]
        finally:
            await servers.stop()
    return 0 if all(results) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=[], help="scenario names")
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--rate", type=float, default=100.0, help="events per second")
    parser.add_argument("--warmup-s", type=float, default=5.0)
    parser.add_argument("--fault-s", type=float, default=30.0)
    parser.add_argument("--settle-s", type=float, default=120.0)
    parser.add_argument("--fleet-clients", type=int, default=100, help="graphql-ws clients")
    parser.add_argument("--fleet-per-client", type=int, default=10, help="subscriptions each")
    parser.add_argument(
        "--keep", default=None, help="a directory to run in and keep: the servers' and roles' logs"
    )
    args = parser.parse_args()
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
