"""Tracing on its own: when it is on, and what a record's trace headers mean."""

from __future__ import annotations

import subprocess
import sys

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shopwindow.tracing import (
    MAX_LINKS,
    context_of,
    links_to,
    operation_span,
    recording,
    trace_headers,
    traced_by,
    tracer,
    wants_export,
)

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.mark.parametrize(
    ("environ", "exported"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, False),
        ({"OTEL_TRACES_EXPORTER": "console"}, False),
        ({"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, False),
    ],
)
def test_spans_are_exported_only_when_the_standard_variables_say_so(
    environ: dict[str, str], exported: bool
) -> None:
    assert wants_export(environ) is exported


@pytest.mark.parametrize(
    "headers",
    [  # The worst a producer could put in the header: read as no trace at all.
        [],
        [("traceparent", b"")],
        [("traceparent", b"garbage")],
        [("traceparent", b"00-" + b"0" * 32 + b"-b7ad6b7169203331-01")],  # All-zero trace id.
        [("traceparent", b"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")],
        [("traceparent", b"\xff\xfe" * 40)],
        [("traceparent", PARENT.encode() * 1000)],
    ],
)
def test_malformed_trace_headers_mean_no_trace(headers: list[tuple[str, bytes]]) -> None:
    assert context_of(headers) is None


def test_a_trace_header_names_its_trace_and_links_are_bounded_and_distinct() -> None:
    found = context_of([("id", b"x"), ("traceparent", PARENT.encode())])
    assert found is not None and format(found.trace_id, "032x") == PARENT.split("-")[1]
    assert len(links_to([found, found, None])) == 1
    many = [
        context_of([("traceparent", f"00-{n:032x}-b7ad6b7169203331-01".encode())])
        for n in range(1, 300)
    ]
    assert len(links_to(many)) == MAX_LINKS


def test_headers_carry_the_current_span_only_while_tracing() -> None:
    assert trace_headers() == []
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with traced_by(provider), tracer().start_as_current_span("batch") as span:
        [(name, value)] = trace_headers()
    assert name == "traceparent"
    assert value.decode().split("-")[1] == format(span.get_span_context().trace_id, "032x")
    assert [s.name for s in exporter.get_finished_spans()] == ["batch"]
    provider.shutdown()


def test_an_operation_span_is_recorded_only_while_a_provider_is_installed() -> None:
    headers = {"traceparent": PARENT}
    assert not recording()
    with operation_span("query", "Page", headers):
        assert trace_headers() == []  # Not even the caller's trace: nothing records.
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with traced_by(provider):
        assert recording()
        with operation_span("query", "Page", headers):
            [(_, value)] = trace_headers()
    assert value.decode().split("-")[1] == PARENT.split("-")[1]  # The caller's trace.
    assert [s.name for s in exporter.get_finished_spans()] == ["query Page"]
    provider.shutdown()


# In an interpreter of its own: OpenTelemetry's global provider is set once per process.
_GLOBAL = """
import time
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from shopwindow.tracing import recording
print(recording())
trace.set_tracer_provider(TracerProvider())
began = time.monotonic()
while not recording() and time.monotonic() - began < 5:
    time.sleep(0.05)
print(recording(), round(time.monotonic() - began, 1) <= 1.1)
"""


def test_a_global_provider_installed_while_serving_records_within_a_second() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _GLOBAL], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["False", "True", "True"]
