"""Queries hypothesis-graphql generates from our schema, valid and invalid, over HTTP and
both WebSocket protocols: no 5xx, no internal error, no stack trace, no crash."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis_graphql import Mode, from_schema

from tests.fuzz import SCALE
from tests.gateway.conftest import GatewayFactory, Seed, full_product
from tests.gateway.transports import TRANSPORTS, Transport

SCHEMA = (Path(__file__).resolve().parents[2] / "schema.graphql").read_text()
EXAMPLES = 25 * SCALE


def generated(mode: Mode, count: int) -> list[str]:
    """Queries drawn by hypothesis-graphql (no shrinking: the gateway is the oracle)."""
    queries: list[str] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(from_schema(SCHEMA, mode=mode))
    def collect(query: object) -> None:
        queries.append(str(query))

    collect()
    return queries


@pytest.mark.parametrize("transport", TRANSPORTS, ids=lambda t: t.name)
async def test_generated_queries_never_break_the_gateway(
    seed: Seed,
    gateway: GatewayFactory,
    transport: Transport,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for product_id in ("abc", "def"):
        await seed(product_id, *full_product(product_id))
    queries = generated(Mode.POSITIVE, EXAMPLES) + generated(Mode.NEGATIVE, EXAMPLES)
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
