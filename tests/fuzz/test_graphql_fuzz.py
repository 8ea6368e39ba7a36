"""Queries hypothesis-graphql generates from our schema, valid and invalid, over HTTP and
both WebSocket protocols: no 5xx, no internal error, no stack trace, no crash."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, nodes

from shopwindow.gateway.federation.subgraph import build_subgraph_schema
from tests.fuzz import SCALE, drawn
from tests.gateway.conftest import GatewayFactory, Seed, full_product
from tests.gateway.transports import TRANSPORTS, Transport

SCHEMA = (Path(__file__).resolve().parents[2] / "schema.graphql").read_text()
EXAMPLES = 25 * SCALE
# Kafka offsets, as a client may send them: any integer, or any text.
SCALARS = {
    "Offset": st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70).map(nodes.Int),
        st.text(max_size=30).map(nodes.String),
    )
}


@pytest.mark.parametrize("transport", TRANSPORTS, ids=lambda t: t.name)
async def test_generated_queries_never_break_the_gateway(
    seed: Seed,
    gateway: GatewayFactory,
    transport: Transport,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for product_id in ("abc", "def"):
        await seed(product_id, *full_product(product_id))
    queries = [
        str(query)
        for mode in (Mode.POSITIVE, Mode.NEGATIVE)
        for query in drawn(from_schema(SCHEMA, mode=mode, custom_scalars=SCALARS), EXAMPLES)
    ]
    async with gateway(max_query_cost=1_000_000) as http:
        with caplog.at_level(logging.ERROR):
            for query in queries:
                body = await transport.run(http, query)
                assert "data" in body or "errors" in body, (query, body)
                codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
                assert "INTERNAL" not in codes, (query, body)
                assert "Traceback" not in str(body)
            # The gateway still answers after all of it.
            alive = await transport.run(http, 'subscription { productChanged(id: "abc") { id } }')
    assert "errors" in alive or alive["data"]["productChanged"]["id"] == "abc"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# The executable schema: the SDL's federation directives are imported, not defined.
SUBGRAPH = build_subgraph_schema()._schema
ENTITIES = (
    "query($r: [_Any!]!) { _entities(representations: $r) "
    "{ ... on Product { id name price { amount } } } }"
)
# JSON values a client's encoder can write; infinities cannot be, and are sent as raw
# text by the test that needs them.
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["__typename", "id", "$ne"]) | st.text(max_size=8), inner)
    ),
    max_leaves=10,
)
# What a router (or whoever reaches /subgraph) may send as one representation.
REPRESENTATION = JSON | st.fixed_dictionaries(
    {
        "__typename": st.sampled_from(["Product", "Query", "_Entity", "PageInfo", "__Type"])
        | st.text(max_size=10),
        "id": JSON | st.sampled_from(["abc", "def"]),
    }
)


async def test_hostile_representations_and_generated_queries_never_break_the_subgraph(
    seed: Seed, gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    await seed("abc", *full_product("abc"))
    batches = drawn(st.lists(REPRESENTATION, max_size=8), EXAMPLES * 2)
    any_scalar = {"_Any": JSON.map(lambda v: nodes.String(str(v))), **SCALARS}
    queries = [
        str(query)
        for mode in (Mode.POSITIVE, Mode.NEGATIVE)
        for query in drawn(from_schema(SUBGRAPH, mode=mode, custom_scalars=any_scalar), EXAMPLES)
    ]
    async with gateway(subgraph=True, max_query_cost=1_000_000) as http:
        with caplog.at_level(logging.ERROR):
            requests = [{"query": ENTITIES, "variables": {"r": r}} for r in batches]
            requests += [{"query": q} for q in queries]
            for request in requests:
                response = await http.post("/subgraph", json=request)
                assert response.status_code < 500, (request, response.text)
                body = response.json()
                codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
                assert "INTERNAL" not in codes, (request, body)
                assert "Traceback" not in response.text
            # A number past a double, as raw text (no encoder writes it): refused whole.
            beyond = await http.post(
                "/subgraph",
                content=b'{"query": '
                + orjson.dumps(ENTITIES)
                + b', "variables": {"r": [{"__typename": "Product", "id": 1e999}]}}',
                headers={"content-type": "application/json"},
            )
            assert beyond.status_code == 400, beyond.text
            alive = await http.post(
                "/subgraph",
                json={
                    "query": ENTITIES,
                    "variables": {"r": [{"__typename": "Product", "id": "abc"}]},
                },
            )
    assert alive.json()["data"]["_entities"][0]["id"] == "abc"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
