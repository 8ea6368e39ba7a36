"""Reading a GraphQL HTTP request's parameters, as the GraphQL over HTTP spec has them.

Anything that is not a well-formed GraphQL request (an unparsable body, a missing or
mistyped parameter, an unsupported media type) is a ``RequestError`` with its status,
for every client.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import Scope

from shopwindow.gateway.errors import GatewayError

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
# query, variables, operationName, extensions
Params = tuple[str | None, dict[str, Any] | None, str | None, dict[str, Any] | None]
# Decoded GET query strings kept, and the longest kept.
_KEPT_QUERY_STRINGS = 1024
_MAX_KEPT_QUERY_STRING_BYTES = 4096


class RequestError(GatewayError):
    """An HTTP request that is not a well-formed GraphQL request, with its status; every
    client gets that status."""

    def __init__(self, status: int, message: str, code: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers or {}


class GetParams:
    """The parameters of GET requests. Clients of persisted GETs repeat the same query
    strings: each is decoded once (the values are shared; nothing downstream changes
    them), at most ``_KEPT_QUERY_STRINGS`` of them."""

    def __init__(self) -> None:
        self._decoded: OrderedDict[bytes, Params] = OrderedDict()

    def of(self, request: Request) -> Params:
        """The parameters of a GET.

        Raises:
            RequestError: When they are not those of a well-formed GraphQL request.
        """
        raw: bytes = request.scope.get("query_string", b"")
        params = self._decoded.get(raw)
        if params is not None:
            self._decoded.move_to_end(raw)
            return params
        params = _get_params(request)
        if len(raw) <= _MAX_KEPT_QUERY_STRING_BYTES:
            self._decoded[raw] = params
            if len(self._decoded) > _KEPT_QUERY_STRINGS:
                self._decoded.popitem(last=False)
        return params


def _get_params(request: Request) -> Params:
    params: Mapping[str, Any] = request.query_params
    variables = _json_param(params, "variables")
    extensions = _json_param(params, "extensions")
    return _validate_params(params.get("query"), variables, params.get("operationName"), extensions)


def header_values(scope: Scope) -> dict[str, str]:
    """A request's headers by (lowercase) name, the first of a repeated one as
    Starlette's ``Headers.get`` takes it: read in one pass, where every ``Headers.get``
    scans them all (5 % of a kept answer's time, and more with a browser's headers)."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


async def read_post_params(
    request: Request, headers: Mapping[str, str], max_body_bytes: int
) -> Params:
    """The parameters of a POST: an ``application/json`` body of at most
    ``max_body_bytes``.

    Raises:
        RequestError: When the request is not a well-formed GraphQL request.
    """
    if request.method != "POST":
        raise RequestError(405, "Use GET or POST.", "METHOD_NOT_ALLOWED", {"allow": "GET, POST"})
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != JSON:
        raise RequestError(415, "POST bodies must be application/json.", "UNSUPPORTED_MEDIA_TYPE")
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
        raise RequestError(413, f"Body larger than {max_body_bytes} bytes.", "PAYLOAD_TOO_LARGE")
    # The ASGI messages read directly: Starlette's stream() is an async generator, a
    # measurable share of a kept answer's time for a body that comes in one message.
    body = bytearray()
    more = True
    while more:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            # Nobody reads the answer; what matters is that it is not logged as a crash.
            raise RequestError(400, "The client left before sending its body.", "BAD_REQUEST")
        body += message.get("body", b"")
        if len(body) > max_body_bytes:
            too_large = f"Body larger than {max_body_bytes} bytes."
            raise RequestError(413, too_large, "PAYLOAD_TOO_LARGE")
        more = message.get("more_body", False)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestError(400, "Body is not valid JSON.", "BAD_REQUEST") from None
    if not isinstance(payload, dict):
        raise RequestError(400, "Body must be a JSON object.", "BAD_REQUEST")
    return _validate_params(
        payload.get("query"),
        payload.get("variables"),
        payload.get("operationName"),
        payload.get("extensions"),
    )


def _json_param(params: Mapping[str, Any], name: str) -> Any:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise RequestError(400, f"'{name}' is not valid JSON.", "BAD_REQUEST") from None


def _validate_params(query: Any, variables: Any, operation_name: Any, extensions: Any) -> Params:
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestError(400, "'extensions' must be an object.", "BAD_REQUEST")
    persisted = extensions is not None and "persistedQuery" in extensions
    # A persisted operation may come without its text (the policy resolves it).
    if not (persisted and query is None) and (not isinstance(query, str) or not query.strip()):
        raise RequestError(400, "'query' must be a non-empty string.", "BAD_REQUEST")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError(400, "'variables' must be an object.", "BAD_REQUEST")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError(400, "'operationName' must be a string.", "BAD_REQUEST")
    return query, variables, operation_name, extensions


def response_media_type(accept: str | None) -> str:
    """The media type to answer in, for an ``Accept`` header.

    Raises:
        RequestError: 406 when neither GraphQL media type is acceptable.
    """
    if not accept:
        return JSON  # The specification: no Accept header means application/json.
    kinds = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    if GRAPHQL_RESPONSE in kinds:
        return GRAPHQL_RESPONSE
    if JSON in kinds or "*/*" in kinds or "application/*" in kinds:
        return JSON
    raise RequestError(406, f"Cannot answer in any of: {accept}", "NOT_ACCEPTABLE")
