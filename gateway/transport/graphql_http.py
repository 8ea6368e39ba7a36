"""GraphQL over HTTP, as the specification describes it, on one Starlette endpoint.

* POST with ``application/json``; GET for queries only (405 otherwise).
* ``application/graphql-response+json`` when the client accepts it: request errors
  (unparsable, invalid, over a limit) are 4xx. ``application/json`` for legacy clients:
  the same errors with 200, as they expect.
* Requests that are not well-formed GraphQL requests (unparsable body, missing or
  mistyped parameters) are 400 for every client.
* Operations are checked, run and masked by the ``OperationPolicy`` every transport
  shares; results are serialized by orjson.
* Persisted operations (``extensions.persistedQuery``) are resolved by that policy; a
  GET for one gets an entity tag and caching headers (``http_caching``).
* Any query reading only products by id, POSTed or sent as a GET, persisted or as
  text, may be answered from the ``ResponseCache`` without running.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from graphql import GraphQLError, OperationDefinitionNode, OperationType
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from shopwindow.clock import Clock, SystemClock
from shopwindow.gateway.cost.budget import client_key
from shopwindow.gateway.errors import DependencyUnavailable, GatewayError
from shopwindow.gateway.execution.auth import AuthenticationError, TokenVerifier, Viewer
from shopwindow.gateway.execution.context import ContextFactory, GatewayContext, new_request_id
from shopwindow.gateway.execution.operation import Operation, OperationRefused, Throttled
from shopwindow.gateway.execution.persisted import BAD_REQUEST, NOT_FOUND
from shopwindow.gateway.execution.policy import OperationPolicy
from shopwindow.gateway.federation.ftv1 import FieldTracer, wants_trace
from shopwindow.gateway.graphiql.page import ASSET_PARAMETER, SECURITY_HEADERS, GraphiQLPage
from shopwindow.gateway.metrics import GatewayMetrics
from shopwindow.gateway.reads.consistency import HEADER, parse_after
from shopwindow.gateway.reads.freshness import freshness_report
from shopwindow.gateway.transport.http_caching import (
    NO_STORE,
    VARY,
    HttpCaching,
    entity_tag,
    matches,
)
from shopwindow.gateway.transport.http_params import (
    GRAPHQL_RESPONSE,
    JSON,
    GetParams,
    RequestError,
    header_values,
    read_post_params,
    response_media_type,
)
from shopwindow.gateway.transport.response_cache import CachedResponse, Key, ResponseCache
from shopwindow.tracing import operation_span

# A client's request id goes into logs and headers: only a short, plain one is kept.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Methods counted by name; any other is counted as OTHER.
_COUNTED_METHODS = frozenset({"GET", "HEAD", "POST"})


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one HTTP request may carry, and whether browsers get GraphiQL."""

    max_body_bytes: int
    graphiql: bool
    caching: HttpCaching = HttpCaching(max_age_s=0, stale_while_revalidate_s=0)


def _status(status: int, media_type: str) -> int:
    # GraphQL request errors (unparsable, invalid, unknown operation, over a limit) are
    # 4xx for application/graphql-response+json; legacy application/json clients
    # expect them with 200.
    return status if media_type == GRAPHQL_RESPONSE else 200


# (viewer, request id, WebSocket connection or None) -> a fresh context.


class GraphQLEndpoint:
    """The ``/graphql`` endpoint.

    Args:
        policy: Checks, runs and masks operations, as for every transport.
        limits: Request limits.
        verifier: Checks bearer tokens.
        context_factory: Builds the per-request context (fresh DataLoaders).
        metrics: Where to count.
        graphiql: GraphiQL, served to browsers with its assets, if any.
        responses: Keeps answers to queries, if any.
        traces: Answer a router's request for a federated trace (``extensions.ftv1``).
        clock: How long an answer's prices hold (``Cache-Control``).
    """

    def __init__(
        self,
        policy: OperationPolicy,
        limits: HttpLimits,
        verifier: TokenVerifier,
        context_factory: ContextFactory,
        metrics: GatewayMetrics,
        graphiql: GraphiQLPage | None,
        responses: ResponseCache | None = None,
        traces: bool = False,
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock or SystemClock()
        self._traces = traces
        self._responses = responses
        self._get_params = GetParams()
        self._policy = policy
        self._limits = limits
        self._verifier = verifier
        self._context_factory = context_factory
        self._metrics = metrics
        # The request counter's child per (method, status), resolved once: a label
        # lookup per request is a measurable share of a kept answer. Bounded: any method
        # but GET, HEAD and POST counts as OTHER (the front door hands every method
        # here, and a label per method a client makes up would grow without bound), and
        # the statuses are the few this module answers with.
        self._counted: dict[tuple[str, int], Callable[[], None]] = {}
        self._graphiql = graphiql if limits.graphiql else None

    async def handle(self, request: Request) -> Response:
        """Answer one GraphQL HTTP request."""
        started = time.perf_counter()
        headers = header_values(request.scope)
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.fullmatch(given) else new_request_id()
        media_type = JSON
        try:
            if self._graphiql is not None and request.method == "GET":
                page = self._graphiql_answer(request, headers)
                if page is not None:
                    return page
            media_type = response_media_type(headers.get("accept"))
            response = await self._handle(request, headers, request_id, media_type)
        except GatewayError as error:
            if not isinstance(error, OperationRefused):  # The policy counted those.
                self._metrics.errors.labels(error.code).inc()
            response = error_response(error, media_type)
        response.headers["x-request-id"] = request_id
        self._count(request.method, response.status_code)
        self._metrics.latency_seconds.observe(time.perf_counter() - started)
        return response

    def _count(self, method: str, status: int) -> None:
        if method not in _COUNTED_METHODS:
            method = "OTHER"
        count = self._counted.get((method, status))
        if count is None:
            count = self._counted[(method, status)] = self._metrics.requests.labels(
                method, str(status)
            ).inc
        count()

    def _graphiql_answer(self, request: Request, headers: Mapping[str, str]) -> Response | None:
        # A browser opening /graphql gets the page, and the page's assets come from the
        # same path; anything else is a GraphQL request. The raw query string is looked
        # at, not request.url: building the URL cost a tenth of a persisted GET's time.
        assert self._graphiql is not None
        if b"graphiql=" in request.scope["query_string"]:
            asset = self._graphiql.asset(request.query_params.get(ASSET_PARAMETER, ""))
            if asset is None:
                return Response(status_code=404, headers={"cache-control": NO_STORE})
            answer_headers = {
                "etag": f'"{asset.digest}"',
                "cache-control": "public, max-age=31536000, immutable",
                "x-content-type-options": "nosniff",
            }
            if headers.get("if-none-match") == answer_headers["etag"]:
                return Response(status_code=304, headers=answer_headers)
            return Response(asset.body, 200, headers=answer_headers, media_type=asset.media_type)
        if "text/html" not in headers.get("accept", ""):
            return None  # Before the query string: decoding it is a request's largest cost.
        params = request.query_params
        if "query" in params or "extensions" in params:
            return None
        return HTMLResponse(self._graphiql.html, headers=dict(SECURITY_HEADERS))

    async def _handle(
        self, request: Request, headers: Mapping[str, str], request_id: str, media_type: str
    ) -> Response:
        if request.method == "GET":
            query, variables, operation_name, extensions = self._get_params.of(request)
        else:
            query, variables, operation_name, extensions = await read_post_params(
                request, headers, self._limits.max_body_bytes
            )
        viewer = self._verifier.viewer(headers.get("authorization"))
        operation = self._policy.check(query, variables, operation_name, extensions)
        _check_method(request.method, operation.definition)
        address = request.client.host if request.client else None
        operation = self._policy.admit(operation, client_key(viewer.subject, address))
        definition = operation.definition
        name = definition.name.value if definition.name else None
        with operation_span(definition.operation.value, name, headers):
            return await self._answer(request, headers, request_id, media_type, viewer, operation)

    async def _answer(
        self,
        request: Request,
        headers: Mapping[str, str],
        request_id: str,
        media_type: str,
        viewer: Viewer,
        operation: Operation,
    ) -> Response:
        after = headers.get(HEADER)
        tracer = FieldTracer() if self._traces and wants_trace(headers) else None
        # Only a persisted GET has a URL a browser or CDN can keep: it alone gets an
        # entity tag and caching headers. Any query may be answered from kept bytes.
        http_cached = request.method == "GET" and operation.persisted_id is not None
        key = None if tracer else self._response_key(operation, viewer, after)
        if key is not None and self._responses is not None:
            found = self._responses.get(key)
            if found is not None:
                kept, lag = found
                extensions = {
                    **self._policy.settle(operation, kept.actual_cost),
                    "freshness": freshness_report(kept.oldest_materialized_at, lag),
                    "context": operation.localization.as_extension(),
                }
                answer = _Answer(kept.data, kept.tag, extensions, False, kept.until)
                return self._data_answer(headers, viewer, answer, media_type, http_cached)
        context = self._context_factory(viewer, request_id, None)
        if after is not None and context.consistency is not None:
            positions = parse_after(after, context.consistency.sources)
            await context.read_after(positions)
        try:
            result = await self._policy.execute(operation, context, tracer)
        except TimeoutError:
            raise RequestError(504, "The request took too long.", "TIMEOUT") from None
        # No data and no field path: the request itself was wrong (e.g. a variable of
        # the wrong type), which graphql-response+json reports as 400.
        request_failed = result.data is None and all(not e.path for e in result.errors or ())
        if not result.errors and not tracer and (http_cached or key is not None):
            return self._keepable(
                headers, operation, context, result.data, media_type, key, http_cached
            )
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        if not request_failed:  # Execution never started otherwise: no data at all.
            body["data"] = result.data
        body["extensions"] = self._policy.result_extensions(operation, context, result.data)
        if tracer is not None:
            body["extensions"]["ftv1"] = tracer.encode(result.errors or ())
        if _unavailable(result.errors):
            # Retriable, and /readyz names the dependency meanwhile: 503, as for any
            # server whose backend is down, whatever part of the data did arrive.
            retry = {"retry-after": str(DependencyUnavailable.retry_after_s)}
            return _respond(body, 503, media_type, retry)
        status = _status(400, media_type) if request_failed else 200
        return _respond(body, status, media_type)

    def _response_key(self, operation: Operation, viewer: Viewer, after: str | None) -> Key | None:
        if (
            self._responses is None
            or after is not None
            or not self._responses.covers(operation.plan)
        ):
            return None
        try:
            variables = orjson.dumps(operation.variables, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # E.g. an integer beyond 64 bits: not worth keeping.
            return None
        return (operation.document_hash, operation.name, variables, viewer.segment)

    def _keepable(
        self,
        headers: Mapping[str, str],
        operation: Operation,
        context: GatewayContext,
        data: Any,
        media_type: str,
        key: Key | None,
        http_cached: bool,
    ) -> Response:
        # A successful answer that may be kept, or gets an entity tag, or both.
        # Serialized once: the entity tag digests the very bytes the body carries.
        data_bytes = orjson.dumps(data)

        def tag() -> str:
            return entity_tag(
                operation.document_hash,
                operation.name,
                operation.variables,
                context.segment,
                context.freshness.documents,
                data_bytes,
            )

        answer_tag = tag() if http_cached else None
        consistent = context.consistency_report is not None
        until = context.freshness.until
        actual = self._policy.actual_cost(operation, data)
        if key is not None and not consistent and self._responses is not None:
            versions = context.reads.versions
            oldest = context.freshness.oldest

            def entry() -> CachedResponse:
                read = tuple(sorted((i, v) for i, v in versions.items() if v is not None))
                return CachedResponse(data_bytes, answer_tag or tag(), read, oldest, actual, until)

            self._responses.put(key, versions, entry)
        extensions = self._policy.result_extensions(operation, context, data, actual)
        answer = _Answer(data_bytes, answer_tag, extensions, consistent, until)
        return self._data_answer(headers, context.viewer, answer, media_type, http_cached)

    def _data_answer(
        self,
        request_headers: Mapping[str, str],
        viewer: Viewer,
        answer: _Answer,
        media_type: str,
        http_cached: bool,
    ) -> Response:
        headers = {"cache-control": NO_STORE}
        if http_cached and answer.tag is not None:
            if not answer.consistent:
                holds_s = None
                if answer.until is not None:
                    holds_s = (answer.until - self._clock.now()).total_seconds()
                headers["cache-control"] = self._limits.caching.cache_control(
                    viewer.subject is not None, holds_s
                )
            headers |= {"etag": answer.tag, "vary": VARY}
            if matches(request_headers.get("if-none-match"), answer.tag):
                self._metrics.not_modified.inc()
                return Response(status_code=304, headers=headers)
        extensions = orjson.dumps(answer.extensions)
        body = b'{"data":' + answer.data + b',"extensions":' + extensions + b"}"
        return Response(body, 200, headers=headers, media_type=media_type)


@dataclass(frozen=True, slots=True)
class _Answer:
    # A successful answer, run now or kept; the tag only where HTTP caching applies.
    data: bytes
    tag: str | None
    extensions: dict[str, Any]
    consistent: bool
    # When a scheduled price it shows begins or ends.
    until: datetime | None = None


def error_response(error: GatewayError, media_type: str) -> Response:
    """The one mapping of the gateway's errors to HTTP: status, headers and body.

    Args:
        error: What refused the request.
        media_type: The response's media type; the GraphQL over HTTP spec lets a
            ``application/json`` client get 200 for a refused operation.
    """
    errors = {"errors": [e.formatted for e in error.graphql_errors()]}
    if isinstance(error, RequestError):
        return _respond(errors, error.status, media_type, error.headers)
    if isinstance(error, AuthenticationError):
        return _respond(errors, 401, media_type, {"www-authenticate": "Bearer"})
    if isinstance(error, Throttled):
        return _respond(errors, 429, media_type, {"retry-after": str(error.retry_after_s)})
    if not isinstance(error, OperationRefused):
        return _respond(errors, 400, media_type)  # The request's own input: a header.
    if error.code == NOT_FOUND:
        # Not a failure: an APQ client's cue to send the text. Never cached.
        return _respond(errors, 200, media_type, {"cache-control": NO_STORE})
    if error.code == BAD_REQUEST:
        return _respond(errors, 400, media_type)  # Malformed, for every client.
    return _respond(errors, _status(400, media_type), media_type)


def _unavailable(errors: Sequence[GraphQLError] | None) -> bool:
    return any((e.extensions or {}).get("code") == DependencyUnavailable.code for e in errors or ())


def _respond(
    body: Mapping[str, Any], status: int, media_type: str, headers: dict[str, str] | None = None
) -> Response:
    headers = {"cache-control": NO_STORE, **(headers or {})}
    return Response(orjson.dumps(body), status, headers=headers, media_type=media_type)


def _check_method(method: str, operation: OperationDefinitionNode) -> None:
    if operation.operation is OperationType.SUBSCRIPTION:
        raise RequestError(
            405, "Subscriptions are served over WebSocket.", "METHOD_NOT_ALLOWED", {"allow": ""}
        )
    if method == "GET" and operation.operation is not OperationType.QUERY:
        raise RequestError(
            405, "Only queries may use GET.", "METHOD_NOT_ALLOWED", {"allow": "POST"}
        )
