"""Queries hypothesis-graphql generates from our schema, valid and invalid, over HTTP and
both WebSocket protocols: no 5xx, no internal error, no stack trace, no crash."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, nodes

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
