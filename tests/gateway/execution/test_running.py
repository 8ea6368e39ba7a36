"""Executions leave no garbage: both executors are freed by reference counting."""

from __future__ import annotations

from typing import Any

from graphql import ExecutionResult, OperationDefinitionNode, execute, parse

from shopwindow.gateway.execution.plan import ExecutionPlan
from shopwindow.gateway.execution.running import AcyclicExecutor
from tests.gateway.execution.test_plan import SCHEMA, context
from tests.helpers import garbage_of_the_block

QUERY = '{ product(id: "a") { id name price { amount } stock { available } } }'
# Parsed once, as the gateway does per text: the parser's tokens form a linked list of
# their own, which is not what these tests watch.
DOCUMENT = parse(QUERY)
RUNS = 20


async def core(executor_class: Any = None) -> ExecutionResult:
    result = execute(SCHEMA, DOCUMENT, context_value=context(None), executor_class=executor_class)
    return await result if not isinstance(result, ExecutionResult) else result


async def test_graphql_core_runs_with_the_acyclic_executor_leave_nothing() -> None:
    with garbage_of_the_block() as garbage:
        for _ in range(RUNS):
            result = await core(AcyclicExecutor)
    assert result.data is not None and result.data["product"]["name"] == "Trail shoe"
    assert not result.errors
    assert sum(garbage.values()) == 0, garbage


async def test_graphql_core_s_own_executor_still_leaves_a_cycle_per_run() -> None:
    # Why AcyclicExecutor exists; once this fails, graphql-core fixed it, and the
    # workaround can go.
    with garbage_of_the_block() as garbage:
        for _ in range(RUNS):
            await core()
    assert garbage["IncrementalExecutor"] == RUNS


async def test_plan_runs_leave_nothing() -> None:
    [operation] = DOCUMENT.definitions
    assert isinstance(operation, OperationDefinitionNode)
    plan = ExecutionPlan(SCHEMA, operation, {})
    with garbage_of_the_block() as garbage:
        for _ in range(RUNS):
            run = plan.execute(context(None), None, False)
            result = run if isinstance(run, ExecutionResult) else await run
    assert result.data is not None and result.data["product"]["name"] == "Trail shoe"
    assert sum(garbage.values()) == 0, garbage
