"""OpenTelemetry tracing, off unless the standard ``OTEL_*`` variables ask for it.

A source record's W3C ``traceparent`` header links it to the materializer batch span
that applied it; the MongoDB write is a child of that span, and the changelog records
the batch publishes carry its ``traceparent`` on to the gateway, whose push to
subscribers links back to it. GraphQL requests over HTTP get server spans named by
operation (``query ProductPage``).

Without configuration the OpenTelemetry API is a no-op: no span is recorded and no
header is added. ``configure_tracing`` installs the SDK with an OTLP exporter when
``OTEL_TRACES_EXPORTER`` is ``otlp`` or an OTLP endpoint is set; the exporter reads the
other ``OTEL_EXPORTER_OTLP_*`` variables itself.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping

from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext, SpanKind, Tracer, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()
_HEADERS = ("traceparent", "tracestate")
# Links per span: OpenTelemetry's default limit.
MAX_LINKS = 128

_provider: TracerProvider | None = None


def tracer() -> Tracer:
    """The tracer of shopwindow's spans (the global provider's, unless overridden)."""
    provider = _provider if _provider is not None else trace.get_tracer_provider()
    return provider.get_tracer("shopwindow")


@contextlib.contextmanager
def traced_by(provider: TracerProvider) -> Iterator[None]:
    """Record spans with ``provider`` for a while (tests use an in-memory exporter)."""
    global _provider
    previous, _provider = _provider, provider
    try:
        yield
    finally:
        _provider = previous


def wants_export(environ: Mapping[str, str]) -> bool:
    """Whether the standard variables ask for spans to be exported (over OTLP)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    return exporter == "otlp" or (exporter in ("", "otlp") and bool(endpoint))


def configure_tracing(service_name: str, environ: Mapping[str, str]) -> bool:
    """Install the SDK with an OTLP exporter if the environment asks for it.

    Args:
        service_name: ``service.name`` unless ``OTEL_SERVICE_NAME`` says otherwise.
        environ: The process environment.

    Returns:
        Whether spans are exported.
    """
    if not wants_export(environ):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = environ.get("OTEL_SERVICE_NAME") or service_name
    provider = SdkTracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


def context_of(headers: Iterable[tuple[str, bytes]]) -> SpanContext | None:
    """The W3C trace context in a record's headers; ``None`` if absent or malformed."""
    carrier = {name: value.decode("latin-1") for name, value in headers if name in _HEADERS}
    if "traceparent" not in carrier:
        return None
    found = trace.get_current_span(_PROPAGATOR.extract(carrier)).get_span_context()
    return found if found.is_valid else None


def links_to(contexts: Iterable[SpanContext | None]) -> list[Link]:
    """Links to the distinct valid contexts, at most ``MAX_LINKS``."""
    seen: dict[tuple[int, int], SpanContext] = {}
    for found in contexts:
        if found is not None and len(seen) < MAX_LINKS:
            seen.setdefault((found.trace_id, found.span_id), found)
    return [Link(found) for found in seen.values()]


# Whether the global provider records, as last looked up, and when to look again.
# OpenTelemetry installs a global provider once and for all, so a recording one is
# final; until one is installed, looking every request (its lookup reads the process
# environment) cost 3 % of a kept answer's time, so it is looked up once a second.
_global_records = False
_global_next_look_s = 0.0
_GLOBAL_LOOK_INTERVAL_S = 1.0


def recording() -> bool:
    """Whether spans go anywhere: a provider was installed (``configure_tracing``, or
    ``traced_by`` in tests). Without one every span is a no-op.

    A global provider installed while serving records from within a second.
    """
    global _global_records, _global_next_look_s
    if _provider is not None or _global_records:
        return True
    now = time.monotonic()
    if now < _global_next_look_s:
        return False
    _global_next_look_s = now + _GLOBAL_LOOK_INTERVAL_S
    _global_records = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    return _global_records


@contextlib.contextmanager
def operation_span(kind: str, name: str | None, headers: Mapping[str, str]) -> Iterator[None]:
    """A server span for one GraphQL operation, named ``kind name`` (``query Product``),
    continuing the trace of the request's ``traceparent`` if it carries one.

    Nothing at all while nothing records: the no-op span, with its header scan and
    context switch, cost a tenth of a cached answer's time.
    """
    if not recording():
        yield
        return
    parent = _PROPAGATOR.extract({k: v for k, v in headers.items() if k.lower() in _HEADERS})
    span_name = f"{kind} {name}" if name else kind
    with tracer().start_as_current_span(span_name, context=parent, kind=SpanKind.SERVER) as span:
        span.set_attribute("graphql.operation.type", kind)
        if name:
            span.set_attribute("graphql.operation.name", name)
        yield


def trace_headers() -> list[tuple[str, bytes]]:
    """The current span's W3C context as record headers; none when nothing is traced."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return [(name, value.encode()) for name, value in carrier.items()]
