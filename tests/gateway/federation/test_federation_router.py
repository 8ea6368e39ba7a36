"""shopwindow behind a real federated router: Apollo's gateway from npm, composed with
the example shipping subgraph in ``examples/shipping`` by both public composers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shopwindow.http_server import HttpServer
from tests.gateway.conftest import GatewayFactory, Seed, full_product, sample

SUITES = Path(__file__).resolve().parents[2] / "conformance"
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "shipping"
if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))

import shopwindow_shipping  # noqa: E402  (after the path setup)

SDL = "{ _service { sdl } }"


def _node() -> str:
    node = shutil.which("node")
    assert node, "Node.js is needed for the federation tests"
    assert (SUITES / "node_modules" / "@apollo" / "gateway").is_dir(), (
        "the router is not installed: `make test` installs it with npm ci"
    )
    return node


@contextlib.asynccontextmanager
async def shipping() -> AsyncIterator[str]:
    """The example subgraph on a port the OS picks; yields its URL."""
    server = HttpServer(shopwindow_shipping.create_app(), "127.0.0.1", 0)
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}/graphql"
    finally:
        await server.stop()


async def _specs(tmp_path: Path, subgraphs: dict[str, str]) -> list[str]:
    # Each subgraph's SDL as it serves it (`_service`), as a router composing from the
    # running services would read it.
    specs = []
    async with httpx.AsyncClient() as client:
        for name, url in subgraphs.items():
            body = (await client.post(url, json={"query": SDL})).json()
            path = tmp_path / f"{name}.graphql"
            path.write_text(body["data"]["_service"]["sdl"])
            specs.append(f"{name}|{url}|{path}")
    return specs


async def _federation(command: str, specs: list[str]) -> asyncio.subprocess.Process:
    # Standard input stays open: a gateway runs until it closes.
    return await asyncio.create_subprocess_exec(
        _node(),
        str(SUITES / "federation.mjs"),
        *command.split(),
        *specs,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _compose(specs: list[str]) -> dict[str, Any]:
    composer = await _federation("compose", specs)
    out, err = await asyncio.wait_for(composer.communicate(), 120)
    assert composer.returncode == 0, err.decode()
    composed: dict[str, Any] = json.loads(out)
    return composed


@contextlib.asynccontextmanager
async def router(specs: list[str], command: str = "gateway") -> AsyncIterator[str]:
    """Apollo's gateway over the subgraphs (``hive MAX_COST``: Hive Gateway, enforcing
    demand control); yields its URL."""
    process = await _federation(command, specs)
    assert process.stdout is not None and process.stdin is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 120)
        assert line, (await process.stderr.read()).decode() if process.stderr else ""
        yield str(json.loads(line)["url"])
    finally:
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()


async def test_both_composers_compose_us_with_a_bff_subgraph_and_keep_our_costs(
    gateway: GatewayFactory, tmp_path: Path
) -> None:
    async with gateway(subgraph=True) as http, shipping() as shipping_url:
        ours = f"http://127.0.0.1:{http.base_url.port}/subgraph"
        composed = await _compose(
            await _specs(tmp_path, {"shopwindow": ours, "shipping": shipping_url})
        )
    for composer in ("apollo", "guild"):
        assert "errors" not in composed[composer], composed[composer]
        supergraph = composed[composer]["supergraphSdl"]
        # Both subgraphs' demand-control declarations reach the supergraph a router reads.
        assert "@listSize(assumedSize: 100)" in supergraph
        assert 'sizedFields: ["edges"]' in supergraph
        assert "@cost(weight: 5)" in supergraph
        assert "shippingEstimate(postcode: String!)" in supergraph


async def test_a_router_joins_both_subgraphs_batches_entities_and_reads_our_traces(
    gateway: GatewayFactory, seed: Seed, tmp_path: Path
) -> None:
    ids = [f"p{n}" for n in range(60)]
    for product_id in ids:
        await seed(product_id, *full_product(product_id))
    async with gateway(subgraph=True) as http, shipping() as shipping_url:
        ours = f"http://127.0.0.1:{http.base_url.port}/subgraph"
        specs = await _specs(tmp_path, {"shopwindow": ours, "shipping": shipping_url})
        async with router(specs) as url, httpx.AsyncClient(timeout=30) as client:
            joined = await client.post(
                url,
                json={
                    "query": '{ product(id: "p1") { id name price { amount } '
                    'shippingEstimate(postcode: "sw1a 1aa") { postcode days price } } }'
                },
            )
            before = await sample(http, "shopwindow_dataloader_batch_size_count", loader="products")
            many = await client.post(
                url,
                json={
                    "query": 'query($ids: [ID!]!) { deliverable(ids: $ids, postcode: "X1") '
                    "{ id name } }",
                    "variables": {"ids": ids},
                },
            )
            after = await sample(http, "shopwindow_dataloader_batch_size_count", loader="products")
            keys = await sample(http, "shopwindow_dataloader_batch_size_sum", loader="products")
            traced = await client.post(
                url,
                json={"query": '{ product(id: "p2") { id name } }'},
                headers={"x-test-trace": "ftv1"},
            )
    product = joined.json()["data"]["product"]
    assert product["id"] == "p1" and product["name"] and product["price"]["amount"]
    assert product["shippingEstimate"]["postcode"] == "SW1A 1AA"
    assert 1 <= product["shippingEstimate"]["days"] <= 5

    # The shipping subgraph names 60 products; the router fetches their names from us
    # in one _entities call, which our DataLoader reads in one batch.
    body = many.json()
    assert body.get("data"), body
    assert [p["id"] for p in body["data"]["deliverable"]] == ids
    assert all(p["name"] for p in body["data"]["deliverable"])
    assert after - before == 1
    assert keys >= 60

    [fetch] = traced.json()["extensions"]["fetchTraces"]
    assert fetch["serviceName"] == "shopwindow"
    assert fetch["traceParsingFailed"] is False  # Apollo's own decoder read our ftv1
    trace = fetch["trace"]
    assert trace["durationNs"] > 0
    [root_field] = trace["root"]["child"]
    assert root_field["responseName"] == "product" and root_field["parentType"] == "Query"
    fields = {child["responseName"]: child for child in root_field["child"]}
    assert {"id", "name"} <= set(fields)
    assert fields["name"]["type"] == "String!"
    assert int(fields["name"]["endTime"]) >= int(fields["name"]["startTime"]) > 0


@pytest.mark.parametrize(
    "bad", ["{", "{ _entities }", "{ _service { sdl } __schema { types { name } } }"]
)
async def test_what_a_router_cannot_compose_from_is_refused_cleanly(
    gateway: GatewayFactory, bad: str
) -> None:
    async with gateway(subgraph=True, introspection=False) as http:
        response = await http.post("/subgraph", json={"query": bad})
    body = response.json()
    assert body["errors"] and "Traceback" not in response.text
    assert body.get("data") is None


# Queries on our subgraph alone, for which a router's estimate and ours must agree: the
# IBM rules, `first` (given, by variable, or by default), sizedFields and assumedSize.
AGREED = [
    ('{ product(id: "p1") { id name price { amount } stock { available } } }', None),
    (
        '{ productsByCategory(category: "shoes", first: 7) { edges { node { id price '
        "{ amount } } } pageInfo { hasNextPage } } }",
        None,
    ),
    ('{ productsByCategory(category: "shoes") { edges { cursor } } }', None),
    ('{ product(id: "p1") { attributes { name } rating { average } } }', None),
    (
        "{ search(first: 3) { totalCount facets { brands { value } priceRanges { count } } "
        "edges { node { name } } } }",
        None,
    ),
    ("query($n: Int!) { trending(first: $n) { id popularity { views } } }", {"n": 9}),
    (
        '{ a: product(id: "p1") { ...F } b: product(id: "p2") { ...F } } '
        "fragment F on Product { price { amount } }",
        None,
    ),
]


async def test_hive_gateway_enforcing_demand_control_estimates_our_queries_as_we_do(
    gateway: GatewayFactory, seed: Seed, tmp_path: Path
) -> None:
    await seed("p1", *full_product("p1"))
    async with gateway(subgraph=True) as http, shipping() as shipping_url:
        ours = f"http://127.0.0.1:{http.base_url.port}/subgraph"
        specs = await _specs(tmp_path, {"shopwindow": ours, "shipping": shipping_url})
        async with router(specs, "hive 50") as url, httpx.AsyncClient(timeout=30) as client:
            pairs = []
            for query, variables in AGREED:
                payload = {"query": query, "variables": variables}
                theirs = (await client.post(url, json=payload)).json()
                mine = (await http.post("/subgraph", json=payload)).json()
                pairs.append(
                    (theirs["extensions"]["cost"]["estimated"], mine["extensions"]["cost"])
                )
            before = await sample(
                http, "shopwindow_graphql_requests_total", method="POST", status="200"
            )
            costly = (
                await client.post(
                    url,
                    json={
                        "query": '{ productsByCategory(category: "shoes", first: 30) '
                        "{ edges { node { price { amount } } } } }"
                    },
                )
            ).json()
            after = await sample(
                http, "shopwindow_graphql_requests_total", method="POST", status="200"
            )
    for theirs, mine in pairs:
        assert theirs == mine["requestedQueryCost"], pairs
    assert [theirs for theirs, _ in pairs][:3] == [3, 1 + 7 * 3 + 1, 1 + 20]
    # 1 + 30 * (edge, node, price): over Hive's limit of 50, refused before reaching us.
    [error] = costly["errors"]
    assert error["extensions"]["code"] == "COST_ESTIMATED_TOO_EXPENSIVE"
    assert error["extensions"]["cost"]["estimated"] == 91
    assert after == before
