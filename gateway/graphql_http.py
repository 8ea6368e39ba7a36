"""GraphQL over HTTP, as the specification describes it, on one Starlette endpoint.

* POST with ``application/json``; GET for queries only (405 otherwise).
* ``application/graphql-response+json`` when the client accepts it: request errors
  (unparsable, invalid, over a limit) are 4xx. ``application/json`` for legacy clients:
  the same errors with 200, as they expect.
* Parsing and validation are cached per query text; results are serialized by orjson.
* Resolver errors are masked: the client gets a code and the request id, the log gets
  the exception.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from gateway.auth import AuthenticationError, TokenVerifier, Viewer
from gateway.context import GatewayContext
from gateway.errors import UserInputError
from gateway.limits import max_aliases_rule, max_depth_rule
from gateway.metrics import GatewayMetrics

log = logging.getLogger(__name__)

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
_CACHE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request may ask for."""

    max_depth: int
    max_aliases: int
    max_tokens: int
    max_body_bytes: int
    timeout_s: float
    introspection: bool
    graphiql: bool


# Problems with the HTTP request itself; every client gets these statuses. Legacy
# application/json clients get 200 for the rest (GraphQL request errors), as they expect.
_HTTP_LEVEL_STATUSES = frozenset({401, 405, 406, 413, 415})


def _status(status: int, media_type: str) -> int:
    if media_type == GRAPHQL_RESPONSE or status in _HTTP_LEVEL_STATUSES:
        return status
    return 200


class RequestError(Exception):
    """A request that cannot be executed, with the status the specification gives it."""

    def __init__(self, status: int, message: str, code: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class Prepared:
    """A parsed and validated document, cached per query text."""

    document: DocumentNode | None
    errors: list[GraphQLError]


class PreparedCache:
    """Parse and validate each distinct query text once.

    Args:
        schema: The executable schema.
        limits: Token, depth and alias limits, and whether introspection is allowed.
    """

    def __init__(self, schema: GraphQLSchema, limits: Limits) -> None:
        self._schema = schema
        self._limits = limits
        rules = [
            *specified_rules,
            max_depth_rule(limits.max_depth),
            max_aliases_rule(limits.max_aliases),
        ]
        if not limits.introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        self._rules = rules
        self._entries: OrderedDict[str, Prepared] = OrderedDict()

    def get(self, query: str) -> Prepared:
        """The prepared document of ``query``."""
        entry = self._entries.get(query)
        if entry is None:
            entry = self._prepare(query)
            self._entries[query] = entry
            if len(self._entries) > _CACHE_SIZE:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(query)
        return entry

    def _prepare(self, query: str) -> Prepared:
        try:
            document = parse(query, max_tokens=self._limits.max_tokens)
        except GraphQLError as error:
            return Prepared(None, [error])
        return Prepared(document, validate(self._schema, document, self._rules))


ContextFactory = Callable[[Request | None, Viewer, str], GatewayContext]


class GraphQLEndpoint:
    """The ``/graphql`` endpoint.

    Args:
        schema: The executable schema.
        limits: Request limits.
        verifier: Checks bearer tokens.
        context_factory: Builds the per-request context (fresh DataLoaders).
        metrics: Where to count.
        graphiql_html: The page served to browsers, if any.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        limits: Limits,
        verifier: TokenVerifier,
        context_factory: ContextFactory,
        metrics: GatewayMetrics,
        graphiql_html: str | None,
    ) -> None:
        self._schema = schema
        self._limits = limits
        self._prepared = PreparedCache(schema, limits)
        self._verifier = verifier
        self._context_factory = context_factory
        self._metrics = metrics
        self._graphiql_html = graphiql_html if limits.graphiql else None

    async def handle(self, request: Request) -> Response:
        """Answer one GraphQL HTTP request."""
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        media_type = JSON
        try:
            if self._wants_graphiql(request):
                assert self._graphiql_html is not None
                return HTMLResponse(self._graphiql_html)
            media_type = _response_media_type(request.headers.get("accept"))
            response = await self._handle(request, request_id, media_type)
        except RequestError as error:
            self._metrics.errors.labels(error.code).inc()
            status = _status(error.status, media_type)
            body = {"errors": [{"message": str(error), "extensions": {"code": error.code}}]}
            response = _respond(body, status, media_type, error.headers)
        response.headers["x-request-id"] = request_id
        self._metrics.requests.labels(request.method, str(response.status_code)).inc()
        self._metrics.latency_seconds.observe(time.perf_counter() - started)
        return response

    def _wants_graphiql(self, request: Request) -> bool:
        if request.method != "GET" or self._graphiql_html is None:
            return False
        accept = request.headers.get("accept", "")
        return "text/html" in accept and "query" not in request.query_params

    async def _handle(self, request: Request, request_id: str, media_type: str) -> Response:
        query, variables, operation_name = await _read_params(request, self._limits.max_body_bytes)
        try:
            viewer = self._verifier.viewer(request.headers.get("authorization"))
        except AuthenticationError as error:
            raise RequestError(
                401, str(error), "UNAUTHENTICATED", {"www-authenticate": "Bearer"}
            ) from None
        prepared = self._prepared.get(query)
        if prepared.document is None or prepared.errors:
            code = (
                "GRAPHQL_PARSE_FAILED" if prepared.document is None else "GRAPHQL_VALIDATION_FAILED"
            )
            self._metrics.errors.labels(code).inc()
            body = {"errors": [_client_error(e, code) for e in prepared.errors]}
            return _respond(body, _status(400, media_type), media_type)
        operation = get_operation_ast(prepared.document, operation_name)
        if operation is None:
            raise RequestError(
                400, "Operation not found or ambiguous; give operationName.", "BAD_REQUEST"
            )
        _check_method(request.method, operation)
        context = self._context_factory(request, viewer, request_id)
        try:
            result = await asyncio.wait_for(
                self._execute(prepared.document, variables, operation_name, context),
                self._limits.timeout_s,
            )
        except TimeoutError:
            raise RequestError(504, "The request took too long.", "TIMEOUT") from None
        # No data and no field path: the request itself was wrong (e.g. a variable of
        # the wrong type), which graphql-response+json reports as 400.
        request_failed = result.data is None and all(not e.path for e in result.errors or ())
        status = _status(400, media_type) if request_failed else 200
        body = self._result_body(result, request_id)
        if request_failed:
            del body["data"]  # Execution never started.
        return _respond(body, status, media_type)

    async def _execute(
        self,
        document: DocumentNode,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: GatewayContext,
    ) -> ExecutionResult:
        result = execute(
            self._schema,
            document,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
        )
        if isinstance(result, ExecutionResult):
            return result
        awaited: ExecutionResult = await result
        return awaited

    def _result_body(self, result: ExecutionResult, request_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [self._mask(error, request_id) for error in result.errors]
        body["data"] = result.data
        return body

    def _mask(self, error: GraphQLError, request_id: str) -> dict[str, Any]:
        original = error.original_error
        if original is None or isinstance(original, GraphQLError):
            # Variable coercion and the like: about the request, not the server.
            self._metrics.errors.labels("BAD_USER_INPUT").inc()
            return _client_error(error, "BAD_USER_INPUT")
        if isinstance(original, UserInputError):
            self._metrics.errors.labels(UserInputError.code).inc()
            return {**_client_error(error, UserInputError.code), "message": str(original)}
        self._metrics.errors.labels("INTERNAL").inc()
        log.error(
            "resolver failed",
            exc_info=(type(original), original, original.__traceback__),
            extra={"request_id": request_id, "path": error.path},
        )
        masked: dict[str, Any] = {
            "message": "Internal server error",
            "extensions": {"code": "INTERNAL", "requestId": request_id},
        }
        if error.path:
            masked["path"] = error.path
        return masked


def _client_error(error: GraphQLError, code: str) -> dict[str, Any]:
    formatted: dict[str, Any] = {"message": error.message}
    if error.locations:
        formatted["locations"] = [
            {"line": loc.line, "column": loc.column} for loc in error.locations
        ]
    if error.path:
        formatted["path"] = error.path
    formatted["extensions"] = {"code": (error.extensions or {}).get("code", code)}
    return formatted


def _respond(
    body: Mapping[str, Any], status: int, media_type: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status, headers=headers, media_type=media_type)


def _response_media_type(accept: str | None) -> str:
    if not accept:
        return JSON  # The specification: no Accept header means application/json.
    kinds = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    if GRAPHQL_RESPONSE in kinds:
        return GRAPHQL_RESPONSE
    if JSON in kinds or "*/*" in kinds or "application/*" in kinds:
        return JSON
    raise RequestError(406, f"Cannot answer in any of: {accept}", "NOT_ACCEPTABLE")


def _check_method(method: str, operation: OperationDefinitionNode) -> None:
    if operation.operation is OperationType.SUBSCRIPTION:
        raise RequestError(400, "Subscriptions are served over WebSocket.", "BAD_REQUEST")
    if method == "GET" and operation.operation is not OperationType.QUERY:
        raise RequestError(
            405, "Only queries may use GET.", "METHOD_NOT_ALLOWED", {"allow": "POST"}
        )


async def _read_params(
    request: Request, max_body_bytes: int
) -> tuple[str, dict[str, Any] | None, str | None]:
    if request.method == "GET":
        params: Mapping[str, Any] = request.query_params
        raw_variables = params.get("variables")
        try:
            variables = orjson.loads(raw_variables) if raw_variables else None
        except orjson.JSONDecodeError:
            raise RequestError(400, "'variables' is not valid JSON.", "BAD_REQUEST") from None
        return _validate_params(params.get("query"), variables, params.get("operationName"))
    if request.method != "POST":
        raise RequestError(405, "Use GET or POST.", "METHOD_NOT_ALLOWED", {"allow": "GET, POST"})
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != JSON:
        raise RequestError(415, "POST bodies must be application/json.", "UNSUPPORTED_MEDIA_TYPE")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
        raise RequestError(413, f"Body larger than {max_body_bytes} bytes.", "PAYLOAD_TOO_LARGE")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_body_bytes:
            raise RequestError(
                413, f"Body larger than {max_body_bytes} bytes.", "PAYLOAD_TOO_LARGE"
            )
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestError(400, "Body is not valid JSON.", "BAD_REQUEST") from None
    if not isinstance(payload, dict):
        raise RequestError(400, "Body must be a JSON object.", "BAD_REQUEST")
    return _validate_params(
        payload.get("query"), payload.get("variables"), payload.get("operationName")
    )


def _validate_params(
    query: Any, variables: Any, operation_name: Any
) -> tuple[str, dict[str, Any] | None, str | None]:
    if not isinstance(query, str) or not query.strip():
        raise RequestError(400, "'query' must be a non-empty string.", "BAD_REQUEST")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError(400, "'variables' must be an object.", "BAD_REQUEST")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError(400, "'operationName' must be a string.", "BAD_REQUEST")
    return query, variables, operation_name
