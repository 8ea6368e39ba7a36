"""Tracing through the materializer: a source record's trace reaches the batch span, the
MongoDB write and the changelog record."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shopwindow.tracing import traced_by
from tests import kinds
from tests.helpers import consume_all, eventually, running_materializer
from tests.materializer.conftest import World, catalog

SOURCE_TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{SOURCE_TRACE}-b7ad6b7169203331-01"


async def test_a_source_trace_links_the_batch_whose_write_and_changelog_follow(
    world: World,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    topics = world.topics
    with traced_by(provider):
        await world.produce(
            [(kinds.CATALOG.name_in(topics), "abc", catalog())],
            headers=[("traceparent", TRACEPARENT.encode())],
        )
        async with running_materializer(world.settings()):
            await eventually(world.documents, lambda d: "abc" in d)
            [record] = await consume_all(
                world.stack.kafka_bootstrap_servers, topics.changelog, expect_at_least=1
            )
    provider.shutdown()
    spans = exporter.get_finished_spans()
    [batch] = [
        s
        for s in spans
        if s.name == "materializer batch"
        and any(format(link.context.trace_id, "032x") == SOURCE_TRACE for link in s.links)
    ]
    writes = [s for s in spans if s.name == "mongodb write"]
    assert any(s.parent is not None and s.parent.span_id == batch.context.span_id for s in writes)
    published = dict(record.headers)["traceparent"].decode().split("-")
    assert published[1] == format(batch.context.trace_id, "032x")
    assert published[2] == format(batch.context.span_id, "016x")
