"""Per-client cost budgets through real clients: one bucket per client, whatever the
transport, and no way around it by batching, aliases or fragments."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gateway.conftest import GatewayFactory, Seed, full_product
from tests.gateway.execution.test_auth import SECRET, token
from tests.gateway.transports import LEGACY_WS, TRANSPORT_WS, WebSocket

CARD = "{ id name price { amount } stock { available } }"
ONE = f'{{ product(id: "abc") {CARD} }}'  # Costs 3: the product, its price and stock.
ALIASED = f'{{ a: product(id: "abc") {CARD} b: product(id: "abc") {CARD} }}'
FRAGMENTS = (
    '{ a: product(id: "abc") { ...f } b: product(id: "abc") { ...f } } '
    f"fragment f on Product {CARD}"
)
LIVE = 'subscription { stockChanged(productId: "abc") { stock { available } } }'
BUDGET = {"budget_capacity": 10, "budget_restore_per_s": 1, "jwt_hs256_secret": SECRET}


def cost_of(body: dict[str, Any]) -> dict[str, Any]:
    cost: dict[str, Any] = body["extensions"]["cost"]
    return cost


async def test_each_operation_spends_its_cost_then_429_says_when_to_retry(
    gateway: GatewayFactory, seed: Seed
) -> None:
    await seed("abc", *full_product("abc"))
    async with gateway(**BUDGET) as http:
        first = (await http.post("/graphql", json={"query": ONE})).json()
        second = (await http.post("/graphql", json={"query": ALIASED})).json()
        refused = await http.post("/graphql", json={"query": ONE})
    assert cost_of(first)["requestedQueryCost"] == 3
    assert cost_of(first)["throttleStatus"] == {
        "maximumAvailable": 10,
        "currentlyAvailable": 7,
        "restoreRate": 1,
    }
    # Two aliases of the same field cost twice: 6 of the 7 left.
    assert cost_of(second)["throttleStatus"]["currentlyAvailable"] == 1
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "2"  # 3 needed, 1 left, 1 per second.
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] == 2
    assert "Retry after 2 s" in error["message"]


async def test_fragments_cost_what_they_select(gateway: GatewayFactory, seed: Seed) -> None:
    await seed("abc", *full_product("abc"))
    async with gateway(**BUDGET) as http:
        body = (await http.post("/graphql", json={"query": FRAGMENTS})).json()
    assert cost_of(body)["requestedQueryCost"] == 6


async def test_a_query_pays_its_actual_cost_what_it_did_not_use_is_given_back(
    gateway: GatewayFactory, seed: Seed
) -> None:
    await seed("abc", *full_product("abc"))
    query = '{ products(ids: ["abc", "x", "y"]) { id price { amount } } }'  # 3 * (1 + 1)
    async with gateway(**BUDGET) as http:
        cost = cost_of((await http.post("/graphql", json={"query": query})).json())
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (6, 2)
    # 10, less 6 on admission, plus the 4 not used: 8 (more only if a second passed).
    assert cost["throttleStatus"]["currentlyAvailable"] >= 8


async def test_a_query_dearer_than_a_whole_budget_is_too_costly_not_throttled(
    gateway: GatewayFactory,
) -> None:
    query = '{ products(ids: ["a", "b", "c"]) { id price { amount } } }'  # 3 * (1 + 1)
    async with gateway(**{**BUDGET, "budget_capacity": 5}) as http:
        response = await http.post("/graphql", json={"query": query})
    assert response.status_code != 429 and "retry-after" not in response.headers
    assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_budget_spent_over_http_is_spent_over_websocket_too(
    gateway: GatewayFactory, seed: Seed, protocol: str
) -> None:
    await seed("abc", *full_product("abc"))
    async with gateway(**BUDGET) as http:
        for _ in range(3):
            await http.post("/graphql", json={"query": ONE})
        socket = WebSocket(protocol)
        # The legacy protocol carries subscriptions only.
        query = await socket.run(http, ONE) if protocol == TRANSPORT_WS else None
        live = await socket.run(http, LIVE)
    for body in (query, live):
        assert body is None or body["errors"][0]["extensions"]["code"] == "RATE_LIMITED", body


async def test_each_token_subject_has_its_own_budget_and_anonymous_viewers_share_one(
    gateway: GatewayFactory, seed: Seed
) -> None:
    await seed("abc", *full_product("abc"))
    alice = {"authorization": f"Bearer {token(sub='alice')}"}
    bob = {"authorization": f"Bearer {token(sub='bob')}"}
    async with gateway(**BUDGET) as http:
        for _ in range(3):
            assert (await http.post("/graphql", json={"query": ONE}, headers=alice)).is_success
        spent = await http.post("/graphql", json={"query": ONE}, headers=alice)
        other = await http.post("/graphql", json={"query": ONE}, headers=bob)
        anonymous = await http.post("/graphql", json={"query": ONE})
    assert spent.status_code == 429
    assert other.status_code == 200 and anonymous.status_code == 200


async def test_without_a_budget_nothing_is_throttled_or_reported(
    gateway: GatewayFactory, seed: Seed
) -> None:
    await seed("abc", *full_product("abc"))
    async with gateway() as http:
        bodies = [(await http.post("/graphql", json={"query": ONE})).json() for _ in range(5)]
    assert all("throttleStatus" not in cost_of(body) for body in bodies)
