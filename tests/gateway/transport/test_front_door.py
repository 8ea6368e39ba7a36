"""/graphql goes straight to its endpoint; every other path goes through Starlette."""

from __future__ import annotations

import pytest
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from shopwindow.gateway.transport.front_door import FrontDoor
from tests.gateway.conftest import GatewayFactory

QUERY = "{ __typename }"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
async def test_other_methods_on_graphql_are_refused_with_allow(
    gateway: GatewayFactory, method: str
) -> None:
    async with gateway() as http:
        answer = await http.request(method, "/graphql", json={"query": QUERY})
    assert answer.status_code == 405
    assert {m.strip() for m in answer.headers["allow"].split(",")} == {"GET", "POST"}
    assert answer.headers["cache-control"] == "no-store"
    if method != "HEAD":  # A HEAD answer has no body.
        assert answer.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


async def test_methods_a_client_makes_up_are_counted_as_one_label(
    gateway: GatewayFactory,
) -> None:
    # Every method reaches the endpoint now: a metric label per method would let
    # clients grow the process's memory (and every scrape) without bound.
    methods = ["PROPFIND", "MKCOL", "LOCK", "PURGE", "SEARCH", "PUT"]
    async with gateway() as http:
        for method in methods:
            assert (await http.request(method, "/graphql")).status_code == 405
        text = (await http.get("/metrics")).text
    counted = {
        line.split('method="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("shopwindow_graphql_requests_total{")
    }
    assert counted == {"OTHER"}


async def test_graphql_and_the_other_paths_are_served(gateway: GatewayFactory) -> None:
    async with gateway() as http:
        graphql = await http.post("/graphql", json={"query": QUERY})
        probe = await http.get("/healthz")
        metrics = await http.get("/metrics")
        unknown = await http.get("/graphqlx")
        below = await http.get("/graphql/x")
        # Only the exact path is the endpoint; no redirect from a trailing slash.
        slash = await http.post("/graphql/", json={"query": QUERY})
    assert graphql.json()["data"] == {"__typename": "Query"}
    assert probe.status_code == 200
    assert "shopwindow_graphql_requests" in metrics.text
    assert [r.status_code for r in (unknown, below, slash)] == [404, 404, 404]


async def test_a_websocket_elsewhere_is_refused(gateway: GatewayFactory) -> None:
    async with gateway() as http:
        url = str(http.base_url).replace("http", "ws", 1) + "/healthz"
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(url):
                pass
    assert refused.value.response.status_code == 403


async def _never(request: Request) -> Response:
    raise AssertionError("not called")


def test_the_state_is_the_starlette_apps() -> None:
    # HttpServer names a failed start by the lifespan's app.state.startup_error.
    inner = Starlette()
    door = FrontDoor(inner, _never, inner)
    door.state.startup_error = ValueError("named")
    assert inner.state.startup_error is door.state.startup_error
