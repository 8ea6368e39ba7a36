"""Product queries over real HTTP against documents in MongoDB."""

from __future__ import annotations

from typing import Any

import httpx

from tests import kinds
from tests.gateway.conftest import GatewayFactory, Seed, full_product
from tests.materializer.conftest import catalog, stock_take

PRODUCT_FIELDS = """
  id name description brand category images attributes { name value }
  price { amount listAmount currency discountPercent }
  stock { available status updatedAt } rating { average count }
  popularity { views orders } version updatedAt
"""


async def query(http: httpx.AsyncClient, text: str, **variables: Any) -> Any:
    response = await http.post("/graphql", json={"query": text, "variables": variables})
    assert response.status_code == 200, response.text
    body = response.json()
    # Every response reports what the operation was estimated to cost.
    assert body.pop("extensions")["cost"]["requestedQueryCost"] >= 1
    return body


async def test_a_product_page_in_one_query(seed: Seed, gateway: GatewayFactory) -> None:
    await seed("abc", *full_product("abc"))
    async with gateway() as http:
        body = await query(http, f'{{ product(id: "abc") {{ {PRODUCT_FIELDS} }} }}')
    assert body == {
        "data": {
            "product": {
                "id": "abc",
                "name": "Trail shoe",
                "description": "",
                "brand": "Acme",
                "category": "shoes",
                "images": ["https://img/1.jpg"],
                "attributes": [{"name": "colour", "value": "red"}, {"name": "size", "value": "42"}],
                "price": {
                    "amount": "17.99",
                    "listAmount": "19.99",
                    "currency": "EUR",
                    "discountPercent": "10.01",
                },
                "stock": {
                    "available": 3,
                    "status": "LOW_STOCK",
                    "updatedAt": "2024-06-18T12:00:00+00:00",
                },
                "rating": {"average": 4.0, "count": 1},
                "popularity": {"views": 0, "orders": 0},
                "version": 4,
                "updatedAt": "2024-06-18T12:00:00+00:00",
            }
        }
    }


async def test_unknown_and_uncataloged_products_are_null(
    seed: Seed, gateway: GatewayFactory
) -> None:
    await seed("stock-only", (kinds.INVENTORY, stock_take(5, "stock-only")))
    async with gateway() as http:
        body = await query(
            http, '{ a: product(id: "nope") { id } b: product(id: "stock-only") { id } }'
        )
    assert body == {"data": {"a": None, "b": None}}


async def test_products_keep_the_order_of_ids(seed: Seed, gateway: GatewayFactory) -> None:
    await seed("a", (kinds.CATALOG, catalog("a", name="A")))
    await seed("b", (kinds.CATALOG, catalog("b", name="B")))
    async with gateway() as http:
        body = await query(http, '{ products(ids: ["b", "x", "a", "b"]) { name } }')
    assert body["data"]["products"] == [{"name": "B"}, None, {"name": "A"}, {"name": "B"}]


async def test_too_many_ids_is_a_clear_error(gateway: GatewayFactory) -> None:
    async with gateway(max_ids_per_query=2) as http:
        body = await query(http, '{ products(ids: ["a", "b", "c"]) { id } }')
    assert body["data"] is None
    assert body["errors"][0]["message"] == "At most 2 ids per query."
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_every_lookup_of_a_request_is_one_batch(seed: Seed, gateway: GatewayFactory) -> None:
    for product_id in "abcd":
        await seed(product_id, (kinds.CATALOG, catalog(product_id)))
    async with gateway() as http:
        await query(
            http,
            '{ a: product(id: "a") { id } b: product(id: "b") { id } '
            'products(ids: ["c", "d", "a"]) { id } }',
        )
        metrics = (await http.get("/metrics")).text
    assert 'shopwindow_dataloader_batch_size_count{loader="products"} 1.0' in metrics
    assert 'shopwindow_dataloader_batch_size_sum{loader="products"} 4.0' in metrics


async def test_an_operator_as_id_is_just_a_string(seed: Seed, gateway: GatewayFactory) -> None:
    await seed("abc", (kinds.CATALOG, catalog("abc")))
    async with gateway() as http:
        by_literal = await query(
            http, "query($id: ID!) { product(id: $id) { id } }", id='{"$gt": ""}'
        )
        response = await http.post(
            "/graphql",
            json={
                "query": "query($id: ID!) { product(id: $id) { id } }",
                "variables": {"id": {"$gt": ""}},
            },
        )
    assert by_literal == {"data": {"product": None}}
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "data" not in response.json() or response.json()["data"] is None


async def test_category_pages_walk_every_product_once(seed: Seed, gateway: GatewayFactory) -> None:
    for n in range(5):
        await seed(f"s{n}", (kinds.CATALOG, catalog(f"s{n}", category="shoes")))
    await seed("bag", (kinds.CATALOG, catalog("bag", category="bags")))
    page = """query($after: String) {
        productsByCategory(category: "shoes", first: 2, after: $after) {
            edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }"""
    seen: list[str] = []
    after = None
    async with gateway() as http:
        for _ in range(5):
            body = await query(http, page, after=after)
            connection = body["data"]["productsByCategory"]
            seen += [edge["node"]["id"] for edge in connection["edges"]]
            if not connection["pageInfo"]["hasNextPage"]:
                break
            after = connection["pageInfo"]["endCursor"]
        bad = await query(http, page, after="not-a-cursor")
        too_many = await query(
            http, '{ productsByCategory(category: "shoes", first: 1000) { edges { cursor } } }'
        )
    assert seen == ["s0", "s1", "s2", "s3", "s4"]
    assert bad["errors"][0]["message"] == "Invalid cursor."
    assert too_many["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
