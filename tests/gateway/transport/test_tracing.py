"""Tracing through the gateway: HTTP operations get server spans named by operation, and
a subscription push links the trace of the changelog record behind it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from websockets.asyncio.client import connect

from shopwindow.materializer.publishing import changelog_record
from shopwindow.materializer.sources import CORE
from shopwindow.topics import TopicNames
from shopwindow.tracing import traced_by
from tests import kinds
from tests.gateway.changelog_source import Source
from tests.gateway.conftest import GatewayFactory, full_product
from tests.helpers import eventually
from tests.materializer.conftest import delta

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CHANGE_TRACE = "0af7651916cd43dd8448eb211c80319c"
CHANGE_TRACEPARENT = f"00-{CHANGE_TRACE}-b7ad6b7169203331-01"


async def test_operations_and_pushes_are_traced(
    source: Source, gateway: GatewayFactory, topics: TopicNames
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    await source.apply("abc", *full_product("abc"))
    with traced_by(provider):
        async with gateway() as http:
            await eventually(lambda: http.get("/readyz"), lambda r: r.status_code == 200)
            answered = await http.post(
                "/graphql",
                json={"query": 'query ProductPage { product(id: "abc") { name } }'},
                headers={"traceparent": f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"},
            )
            assert answered.status_code == 200
            url = f"ws://127.0.0.1:{http.base_url.port}/graphql"
            frames = await follow_a_traced_change(url, source, topics)
    provider.shutdown()
    spans = exporter.get_finished_spans()
    [operation] = [s for s in spans if s.name == "query ProductPage"]
    assert format(operation.context.trace_id, "032x") == CALLER_TRACE
    assert operation.attributes is not None
    assert operation.attributes["graphql.operation.name"] == "ProductPage"
    pushes = [s for s in spans if s.name == "live push"]
    assert any(
        format(link.context.trace_id, "032x") == CHANGE_TRACE for s in pushes for link in s.links
    )
    assert frames[1]["payload"]["data"]["stockChanged"]["version"] == 5


async def follow_a_traced_change(url: str, source: Source, topics: TopicNames) -> list[Any]:
    """Subscribe to the stock of ``abc``, then announce a change whose changelog record
    carries a trace of its own; the subscription's first two frames."""
    query = 'subscription { stockChanged(productId: "abc") { version } }'
    frames: list[Any] = []
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        await ws.send(json.dumps({"type": "subscribe", "id": "s", "payload": {"query": query}}))
        while len(frames) < 2:
            frame = json.loads(await asyncio.wait_for(ws.recv(decode=True), 10))
            if frame.get("id") != "s":
                continue
            frames.append(frame)
            if len(frames) == 1:
                doc = await source.apply_quietly("abc", (kinds.INVENTORY, delta(-1, minutes=1)))
                record = changelog_record(topics.changelog, "abc", doc, CORE.sections)
                traced = [*record.headers, ("traceparent", CHANGE_TRACEPARENT.encode())]
                await source._producer.send_and_wait(
                    record.topic, record.value, key=record.key, headers=traced
                )
    return frames
