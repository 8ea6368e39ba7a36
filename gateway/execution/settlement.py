"""What a result reports of its operation: the cost, estimated and actual, settled with
the client's budget, and how fresh its products are.

A query or mutation pays its actual cost: admission spent the whole estimate, and the
part the result did not use is given back here, once per result. Subscriptions keep
their admission charge.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from graphql import OperationType

from shopwindow.gateway.cost.budget import ClientBudgets, ThrottleStatus
from shopwindow.gateway.cost.estimate import CostEstimator
from shopwindow.gateway.execution.context import GatewayContext
from shopwindow.gateway.execution.operation import Operation


class Settlement:
    """Reports and settles the cost of results.

    Args:
        costs: The estimates, which also count a result's actual cost.
        max_cost: The most an operation may be estimated to cost.
        budgets: Per-client cost budgets; ``None`` when there are none.
        clock: Seconds, for the budgets.
    """

    def __init__(
        self,
        costs: CostEstimator,
        max_cost: int,
        budgets: ClientBudgets | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._costs = costs
        self._max_cost = max_cost
        self._budgets = budgets
        self._clock = clock

    def actual_cost(self, operation: Operation, data: Any) -> int:
        """The cost of what ``operation`` returned (``data``), by the estimate's rules."""
        return self._costs.actual(
            operation.definition, operation.fragments, data, operation.counted
        )

    def cost_extension(
        self,
        operation: Operation,
        actual: int | None = None,
        throttle: ThrottleStatus | None = None,
    ) -> dict[str, Any]:
        """What a result reports of the operation's cost: estimated, actual once it
        ran, and the client's budget (``throttle``, else as admission left it)."""
        cost: dict[str, Any] = {"requestedQueryCost": operation.cost}
        if actual is not None:
            cost["actualQueryCost"] = actual
        cost["maximumQueryCost"] = self._max_cost
        throttle = throttle or operation.throttle
        if throttle is not None:
            cost["throttleStatus"] = throttle.as_extension()
        return {"cost": cost}

    def settle(self, operation: Operation, actual: int) -> dict[str, Any]:
        """The cost extension of a result whose actual cost is known. A query's or
        mutation's client gets back what its estimate exceeded that by: call this once
        per such result."""
        throttle = None
        if (
            self._budgets is not None
            and operation.client is not None
            and operation.definition.operation is not OperationType.SUBSCRIPTION
        ):
            throttle = self._budgets.refund(
                operation.client, operation.cost - actual, self._clock()
            )
        return self.cost_extension(operation, actual, throttle)

    def result_extensions(
        self, operation: Operation, context: GatewayContext, data: Any, actual: int | None = None
    ) -> dict[str, Any]:
        """What every executed result reports: its cost, estimated and actual (of
        ``data``, unless the caller counted it: ``actual``), settled with the client's
        budget, how fresh its products are (``context.freshness`` starts afresh, for
        a subscription's next event), and the market and language it ran in."""
        if actual is None:
            actual = self.actual_cost(operation, data)
        lag = context.live.lag() if context.live is not None else None
        extensions = {
            **self.settle(operation, actual),
            "freshness": context.freshness.report(lag),
            "context": operation.localization.as_extension(),
        }
        if context.consistency_report is not None:
            extensions["consistency"] = context.consistency_report.as_extension()
        return extensions
