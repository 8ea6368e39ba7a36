"""Admission: an operation spends its estimated cost from its client's budget before it
runs, on every transport alike, so nothing can dodge the bucket."""

from __future__ import annotations

import time
from collections.abc import Callable

from graphql import GraphQLError

from shopwindow.gateway.cost.budget import ClientBudgets
from shopwindow.gateway.execution.operation import (
    RATE_LIMITED,
    Operation,
    Throttled,
    counted_refusal,
)
from shopwindow.gateway.metrics import GatewayMetrics


class Admission:
    """Admits operations against per-client budgets.

    Args:
        metrics: Where to count refusals.
        budgets: The budgets; ``None`` admits every checked operation.
        clock: Seconds.
    """

    def __init__(
        self,
        metrics: GatewayMetrics,
        budgets: ClientBudgets | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metrics = metrics
        self._budgets = budgets
        self._clock = clock

    def admit(self, operation: Operation, client: str) -> Operation:
        """Spend ``operation``'s estimated cost from ``client``'s budget, on every
        transport alike.

        Args:
            operation: A checked operation.
            client: ``client_of`` the viewer and their address.

        Returns:
            The operation, with the client's budget after it (``throttle``).

        Raises:
            Throttled: When the cost does not fit in what the budget has left now.
            OperationRefused: When it exceeds even a full budget (``QUERY_TOO_COSTLY``).
        """
        if self._budgets is None:
            return operation
        admission = self._budgets.admit(client, operation.cost, self._clock())
        status = admission.status
        if admission.admitted:
            return operation.admitted(status, client)
        cost = {"requestedQueryCost": operation.cost, "throttleStatus": status.as_extension()}
        if admission.never:
            error = GraphQLError(
                f"The query's estimated cost is {operation.cost}; a client's whole budget "
                f"is {status.maximum_available}.",
                extensions={"cost": cost},
            )
            raise counted_refusal(self._metrics, [error], "QUERY_TOO_COSTLY")
        self._metrics.errors.labels(RATE_LIMITED).inc()
        error = GraphQLError(
            f"Over this client's cost budget: the query costs {operation.cost}, "
            f"{status.currently_available} is available and {status.restore_rate} is "
            f"restored per second. Retry after {admission.retry_after_s} s.",
            extensions={
                "code": RATE_LIMITED,
                "retryAfter": admission.retry_after_s,
                "cost": cost,
            },
        )
        raise Throttled([error], admission.retry_after_s)
