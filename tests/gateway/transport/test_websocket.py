"""The generic WebSocket path (Strawberry's protocol handlers into ``WebSocketOperations``)
runs queries and mutations; every subscription is served by the live path, so one that
reaches the generic path is refused cleanly, never run."""

from __future__ import annotations

from typing import Any

import pytest
from strawberry.types.execution import PreExecutionError

from shopwindow.gateway.execution.context import GatewayContext, WebSocketConnection
from shopwindow.gateway.execution.limits import Limits
from shopwindow.gateway.execution.policy import OperationPolicy
from shopwindow.gateway.metrics import GatewayMetrics
from shopwindow.gateway.schema.build import build_schema
from shopwindow.gateway.transport.websocket import WebSocketOperations

LIMITS = Limits(
    max_depth=10, max_aliases=30, max_tokens=2000, max_cost=5000, timeout_s=5, introspection=True
)


def _no_context(*_: Any) -> GatewayContext:
    pytest.fail("a refused operation must not get a context")


@pytest.mark.parametrize(
    "query",
    [
        'subscription { stockChanged(productId: "abc") { version stock { available } } }',
        'subscription Named { productChanged(id: "abc") { id } }',
    ],
)
async def test_a_subscription_on_the_generic_path_is_a_bad_request(query: str) -> None:
    metrics = GatewayMetrics()
    policy = OperationPolicy(build_schema()._schema, LIMITS, metrics)
    operations = WebSocketOperations(policy, _no_context)
    results = [
        result async for result in operations.stream(query, None, None, WebSocketConnection(), None)
    ]
    assert len(results) == 1 and isinstance(results[0], PreExecutionError)
    errors = results[0].errors or []
    assert [e.extensions for e in errors] == [{"code": "BAD_REQUEST"}]
    assert "live fields" in errors[0].message
