"""GraphQL over HTTP: status codes, media types, limits, masking and the probes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import orjson
import pytest
import strawberry

from shopwindow.extensions import Extension
from tests.gateway.conftest import GatewayFactory
from tests.helpers import eventually

GRAPHQL_RESPONSE = "application/graphql-response+json"
OK_QUERY = '{ product(id: "x") { id } }'


@pytest.mark.parametrize(
    ("accept", "status", "media_type"),
    [
        (GRAPHQL_RESPONSE, 200, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", 200, GRAPHQL_RESPONSE),
        ("application/json", 200, "application/json"),
        (None, 200, "application/json"),
        ("*/*", 200, "application/json"),
        ("text/plain", 406, "application/json"),
    ],
)
async def test_media_type_negotiation(
    gateway: GatewayFactory, accept: str | None, status: int, media_type: str
) -> None:
    headers = {"accept": accept} if accept else {}
    async with gateway() as http:
        response = await http.post("/graphql", json={"query": OK_QUERY}, headers=headers)
    assert (response.status_code, response.headers["content-type"]) == (status, media_type)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (
            b'{"query": "{ product(id: \\"x\\") { id "}',
            "application/json",
            400,
            "GRAPHQL_PARSE_FAILED",
        ),
        (b'{"query": "{ nope }"}', "application/json", 400, "GRAPHQL_VALIDATION_FAILED"),
        (b"{not json", "application/json", 400, "BAD_REQUEST"),
        (b'["query"]', "application/json", 400, "BAD_REQUEST"),
        (b'{"variables": {}}', "application/json", 400, "BAD_REQUEST"),
        (b'{"query": "{ __typename }", "variables": [1]}', "application/json", 400, "BAD_REQUEST"),
        (b'{"query": 7}', "application/json", 400, "BAD_REQUEST"),
        (
            b'{"query": "{ __typename }", "operationName": 1}',
            "application/json",
            400,
            "BAD_REQUEST",
        ),
        (b'{"query": "{ __typename }", "extensions": [1]}', "application/json", 400, "BAD_REQUEST"),
        (
            b"query=%7B__typename%7D",
            "application/x-www-form-urlencoded",
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            b'{"query": "query($i: ID!) { product(id: $i) { id } }"}',
            "application/json",
            400,
            "BAD_USER_INPUT",
        ),
    ],
)
async def test_request_errors(
    gateway: GatewayFactory, body: bytes, content_type: str, status: int, code: str
) -> None:
    async with gateway() as http:
        spec = await http.post(
            "/graphql",
            content=body,
            headers={"content-type": content_type, "accept": GRAPHQL_RESPONSE},
        )
        legacy = await http.post(
            "/graphql",
            content=body,
            headers={"content-type": content_type, "accept": "application/json"},
        )
    assert spec.status_code == status
    assert spec.json()["errors"][0]["extensions"]["code"] == code
    assert "data" not in spec.json()
    # Legacy clients get GraphQL errors with 200, but a request that is not a
    # well-formed GraphQL request is 4xx for every client.
    malformed = code in ("BAD_REQUEST", "UNSUPPORTED_MEDIA_TYPE")
    assert legacy.status_code == (status if malformed else 200)


async def test_get_runs_queries(gateway: GatewayFactory) -> None:
    async with gateway() as http:
        response = await http.get("/graphql", params={"query": "{ __typename }"})
    assert response.json()["data"] == {"__typename": "Query"}


async def test_graphiql_for_browsers_and_switched_off(gateway: GatewayFactory) -> None:
    async with gateway() as http:
        page = await http.get("/graphql", headers={"accept": "text/html"})
    async with gateway(graphiql=False) as http:
        off = await http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    assert off.status_code == 406 and "text/html" not in off.headers["content-type"]


async def test_oversized_bodies_are_refused(gateway: GatewayFactory) -> None:
    async with gateway(max_body_bytes=300) as http:
        response = await http.post("/graphql", json={"query": "{ __typename }" + " " * 400})
    assert response.status_code == 413


async def test_a_chunked_body_is_read_whole_and_bounded_without_a_length(
    gateway: GatewayFactory,
) -> None:
    # No Content-Length: the bound applies as the chunks arrive.
    body = orjson.dumps({"query": "{ __typename }" + " " * 200})

    async def chunks(data: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(data), 16):
            yield data[start : start + 16]

    async with gateway(max_body_bytes=300) as http:
        small = await http.post(
            "/graphql", content=chunks(body), headers={"content-type": "application/json"}
        )
        large = await http.post(
            "/graphql",
            content=chunks(body + b" " * 200),
            headers={"content-type": "application/json"},
        )
    assert "content-length" not in small.request.headers
    assert small.json()["data"] == {"__typename": "Query"}
    assert large.status_code == 413


async def test_a_client_that_leaves_mid_body_is_not_logged_as_a_crash(
    gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async with gateway() as http:
        url = http.base_url
        reader, writer = await asyncio.open_connection(url.host, url.port)
        head = (
            "POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            "content-length: 1000\r\n\r\n"
        )
        writer.write(head.encode() + b'{"query": "{ __typen')
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        # The gateway still serves; nothing it logged is an error.
        response = await http.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 200
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize(
    ("overrides", "text", "code"),
    [
        ({"max_query_depth": 2}, '{ product(id: "x") { stock { status } } }', "QUERY_TOO_DEEP"),
        (
            {"max_query_depth": 2},
            'query { product(id: "x") { ...f } } fragment f on Product { stock { status } }',
            "QUERY_TOO_DEEP",
        ),
        ({"max_aliases": 2}, "{ a: __typename b: __typename c: __typename }", "TOO_MANY_ALIASES"),
        (
            {"max_tokens": 20, "introspection": False},
            "{ " + "__typename " * 30 + "}",
            "GRAPHQL_PARSE_FAILED",
        ),
        ({"introspection": False}, "{ __schema { types { name } } }", "GRAPHQL_VALIDATION_FAILED"),
    ],
)
async def test_limits(
    gateway: GatewayFactory, overrides: dict[str, object], text: str, code: str
) -> None:
    async with gateway(**overrides) as http:
        response = await http.post(
            "/graphql", json={"query": text}, headers={"accept": GRAPHQL_RESPONSE}
        )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == code


@strawberry.type
class TroubleQuery:
    @strawberry.field
    async def slow(self) -> int:
        await asyncio.sleep(5)
        return 1

    @strawberry.field
    def broken(self) -> int:
        raise RuntimeError("secret connection string mongodb://admin:hunter2@db")


TROUBLE = Extension(name="trouble", query=TroubleQuery)


async def test_errors_are_masked_and_logged_with_the_request_id(
    gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async with gateway(with_extensions=[TROUBLE]) as http:
        with caplog.at_level(logging.ERROR, logger="gateway"):
            response = await http.post(
                "/graphql", json={"query": "{ broken }"}, headers={"x-request-id": "req-42"}
            )
    assert "hunter2" not in response.text and "Traceback" not in response.text
    error = response.json()["errors"][0]
    assert error["message"] == "Internal server error"
    assert error["extensions"] == {"code": "INTERNAL", "requestId": "req-42"}
    assert any(getattr(r, "request_id", None) == "req-42" and r.exc_info for r in caplog.records)


async def test_a_slow_request_times_out(gateway: GatewayFactory) -> None:
    async with gateway(with_extensions=[TROUBLE], request_timeout_ms=100) as http:
        response = await http.post(
            "/graphql", json={"query": "{ slow }"}, headers={"accept": GRAPHQL_RESPONSE}
        )
    assert response.status_code == 504
    assert response.json()["errors"][0]["extensions"]["code"] == "TIMEOUT"


async def test_probes(gateway: GatewayFactory) -> None:
    async with gateway() as http:
        await http.post("/graphql", json={"query": "{ nope }"})
        health = await http.get("/healthz")
        # Ready once the search index has caught up with the changelog.
        ready = await eventually(lambda: http.get("/readyz"), lambda r: r.status_code == 200)
        text = (await http.get("/metrics")).text
    assert health.status_code == 200
    assert ready.json() == {"status": "ready"}
    assert 'shopwindow_graphql_errors_total{code="GRAPHQL_VALIDATION_FAILED"} 1.0' in text
    assert "shopwindow_graphql_request_seconds_bucket" in text


@pytest.mark.parametrize(
    "given",
    ["x" * 10_000, "id\twith tab", "ünïcode", "", "a,b", "../../etc/passwd"],
    ids=["huge", "tab", "non-ascii", "empty", "comma", "path"],
)
async def test_a_hostile_request_id_is_replaced_not_echoed(
    gateway: GatewayFactory, given: str
) -> None:
    async with gateway(with_extensions=[TROUBLE]) as http:
        response = await http.post(
            "/graphql",
            json={"query": "{ broken }"},
            headers={b"x-request-id": given.encode("utf-8")},
        )
    returned = response.headers["x-request-id"]
    assert returned != given and len(returned) == 32
    assert response.json()["errors"][0]["extensions"]["requestId"] == returned


async def test_a_plain_request_id_is_kept(gateway: GatewayFactory) -> None:
    async with gateway() as http:
        response = await http.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"x-request-id": "req-7.a:b"}
        )
    assert response.headers["x-request-id"] == "req-7.a:b"
