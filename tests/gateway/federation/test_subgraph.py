"""The Federation v2 subgraph at ``/subgraph``: entities in one batched read, clean
errors for hostile representations, its SDL, and federated traces (ftv1)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from shopwindow.gateway.federation.ftv1 import Trace, wants_trace
from tests.gateway.conftest import GatewayFactory, Seed, full_product, sample

ENTITIES = (
    "query($r: [_Any!]!) { _entities(representations: $r) "
    "{ ... on Product { id name price { amount } } } }"
)


def product(product_id: Any) -> dict[str, Any]:
    return {"__typename": "Product", "id": product_id}


async def entities(http: Any, representations: Any, **headers: str) -> dict[str, Any]:
    response = await http.post(
        "/subgraph", json={"query": ENTITIES, "variables": {"r": representations}}, headers=headers
    )
    body: dict[str, Any] = response.json()
    return body


async def test_the_subgraph_is_served_only_when_turned_on(gateway: GatewayFactory) -> None:
    async with gateway() as http:
        assert (await http.post("/subgraph", json={"query": "{ __typename }"})).status_code == 404
    async with gateway(subgraph=True) as http:
        body = (await http.post("/subgraph", json={"query": "{ _service { sdl } }"})).json()
    sdl = body["data"]["_service"]["sdl"]
    assert '@link(url: "https://specs.apollo.dev/federation/v2.9"' in sdl
    assert 'type Product @key(fields: "id"' in sdl


async def test_entities_of_100_products_are_one_batched_read(
    gateway: GatewayFactory, seed: Seed
) -> None:
    for product_id in ("p1", "p50"):
        await seed(product_id, *full_product(product_id))
    wanted = [product(f"p{n}") for n in range(100)]
    async with gateway(subgraph=True) as http:
        body = await entities(http, wanted)
        batches = await sample(http, "shopwindow_dataloader_batch_size_count", loader="products")
        keys = await sample(http, "shopwindow_dataloader_batch_size_sum", loader="products")
    found = body["data"]["_entities"]
    assert len(found) == 100 and "errors" not in body
    assert found[1]["id"] == "p1" and found[50]["id"] == "p50" and found[50]["price"]
    assert found[0] is None and found[99] is None  # unknown products: null, in place
    assert (batches, keys) == (1, 100)
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 100 * (1 + 1)  # each product and its price
    assert cost["actualQueryCost"] == 2 * (1 + 1)  # two came back


@pytest.mark.parametrize(
    ("representation", "message"),
    [
        ("Product", "must be an object"),
        ([], "must be an object"),
        ({"id": "p1"}, "Unknown __typename"),
        ({"__typename": "Order", "id": "p1"}, "Unknown __typename"),
        ({"__typename": "__Schema", "id": "p1"}, "Unknown __typename"),
        ({"__typename": "Product"}, "needs its id"),
        (product(None), "needs its id"),
        (product({"$ne": None}), "needs its id"),
        (product(["p1"]), "needs its id"),
        (product(""), "needs its id"),
        (product("x" * 1000), "needs its id"),
        (product(True), "needs its id"),
    ],
)
async def test_a_bad_representation_is_an_error_for_its_own_item(
    gateway: GatewayFactory, seed: Seed, representation: Any, message: str
) -> None:
    await seed("p1", *full_product("p1"))
    async with gateway(subgraph=True) as http:
        body = await entities(http, [product("p1"), representation, product(1)])
    assert body["data"]["_entities"][0]["id"] == "p1"
    assert body["data"]["_entities"][1] is None
    [error] = body["errors"]
    assert error["path"] == ["_entities", 1]
    assert message in error["message"] and error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_too_many_representations_are_refused_before_any_read(
    gateway: GatewayFactory,
) -> None:
    async with gateway(subgraph=True, max_ids_per_query=10, max_query_cost=100_000) as http:
        body = await entities(http, [product(f"p{n}") for n in range(11)])
        batches = await sample(http, "shopwindow_dataloader_batch_size_count", loader="products")
    assert body["data"] is None
    assert "At most 10 representations" in body["errors"][0]["message"]
    assert batches == 0


async def test_a_huge_batch_is_too_costly_before_it_runs(gateway: GatewayFactory) -> None:
    async with gateway(
        subgraph=True, max_query_cost=1000, max_body_bytes=1_000_000, introspection=False
    ) as http:
        body = await entities(http, [product(f"p{n}") for n in range(5000)])
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


async def test_a_router_asking_for_a_trace_gets_per_field_timing_and_masked_errors(
    gateway: GatewayFactory, seed: Seed
) -> None:
    await seed("p1", *full_product("p1"))
    async with gateway(subgraph=True) as http:
        plain = await entities(http, [product("p1")])
        body = await entities(
            http, [product("p1"), 7], **{"apollo-federation-include-trace": "ftv1"}
        )
        on_graphql = await http.post(
            "/graphql",
            json={"query": '{ product(id: "p1") { id } }'},
            headers={"apollo-federation-include-trace": "ftv1"},
        )
    assert "ftv1" not in plain["extensions"]
    assert "ftv1" not in on_graphql.json()["extensions"]  # only the subgraph traces
    trace = Trace()
    trace.ParseFromString(base64.b64decode(body["extensions"]["ftv1"]))
    assert trace.duration_ns > 0 and trace.end_time.ToNanoseconds() > 0
    [entities_node] = trace.root.child
    assert entities_node.response_name == "_entities"
    assert entities_node.parent_type == "Query" and entities_node.type == "[_Entity]!"
    first, second = sorted(entities_node.child, key=lambda n: n.index)
    names = {child.response_name: child for child in first.child}
    assert set(names) == {"id", "name", "price"}
    assert names["name"].parent_type == "Product" and names["name"].type == "String!"
    for node in names.values():
        assert 0 < node.start_time <= node.end_time <= trace.duration_ns
    [error] = second.error
    assert "must be an object" in error.message and '"BAD_USER_INPUT"' in error.json


@pytest.mark.parametrize(
    ("value", "traced"),
    [("ftv1", True), (" FTV1 ", True), ("ftv2", False), ("", False), ("ftv1," * 1000, False)],
)
def test_only_the_ftv1_header_asks_for_a_trace(value: str, traced: bool) -> None:
    assert wants_trace({"apollo-federation-include-trace": value}) is traced
    assert wants_trace({}) is False
