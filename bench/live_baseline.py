"""The baseline of ``bench/live.py``: a bare ``websockets`` server broadcasting changes.

It reads the same changelog the gateway reads (from its end, the same fetch settings)
and, for each change, sends the payload the gateway would send for the benchmark's
subscription (``stockChanged { productId version }``) to every subscriber of that
product with ``websockets.broadcast``: no GraphQL, no policy, no conflation. It speaks
just enough graphql-transport-ws for the benchmark's clients: ``connection_ack``, and
one ``next`` (version 0) per ``subscribe`` so the clients know they are subscribed.

    python -m bench.live_baseline --port P --bootstrap-servers B --topic T [--ping-interval-s S]

With ``--ping-interval-s 0`` it sends no keepalive pings: the library's floor. With
them (the default, as the gateway pings), 10,000 connections opened together ping
together every 20 s, and each burst shows in the change-to-client p99.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict

import orjson
from aiokafka import AIOKafkaConsumer
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

# product id -> operation id -> connections subscribed under that id.
Subscribers = defaultdict[str, defaultdict[str, set[ServerConnection]]]


def _frame(operation_id: str, product_id: str, version: int) -> str:
    payload = {"data": {"stockChanged": {"productId": product_id, "version": version}}}
    return orjson.dumps({"id": operation_id, "type": "next", "payload": payload}).decode()


async def _serve_connection(connection: ServerConnection, subscribers: Subscribers) -> None:
    mine: list[tuple[str, str]] = []
    try:
        async for raw in connection:
            message = orjson.loads(raw)
            if message["type"] == "connection_init":
                await connection.send('{"type":"connection_ack"}')
            elif message["type"] == "subscribe":
                operation_id = message["id"]
                product_id = message["payload"]["variables"]["id"]
                subscribers[product_id][operation_id].add(connection)
                mine.append((product_id, operation_id))
                await connection.send(_frame(operation_id, product_id, 0))
    except ConnectionClosed:
        pass  # The benchmark is over: its clients went.
    finally:
        for product_id, operation_id in mine:
            subscribers[product_id][operation_id].discard(connection)


async def _broadcast_changes(bootstrap_servers: str, topic: str, subscribers: Subscribers) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="latest",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                for record in records:
                    if record.key is None or record.value is None:
                        continue
                    doc = orjson.loads(record.value)
                    product_id, version = doc["_id"], doc["version"]
                    for operation_id, connections in subscribers.get(product_id, {}).items():
                        broadcast(connections, _frame(operation_id, product_id, version))
    finally:
        await consumer.stop()


async def _main(args: argparse.Namespace) -> None:
    subscribers: Subscribers = defaultdict(lambda: defaultdict(set))
    async with serve(
        lambda connection: _serve_connection(connection, subscribers),
        "127.0.0.1",
        args.port,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        compression=None,
        max_queue=None,
        # websockets' default keepalive (a ping every 20 s, as uvicorn's for the
        # gateway) unless told otherwise.
        ping_interval=args.ping_interval_s if args.ping_interval_s > 0 else None,
    ):
        await _broadcast_changes(args.bootstrap_servers, args.topic, subscribers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument(
        "--ping-interval-s", type=float, default=20, help="keepalive pings; 0: none"
    )
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
