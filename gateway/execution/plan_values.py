"""Completing the values of a plan's fields: leaves, non-null wrappers and lists.

Each function builds, once, the closure that completes one field's values in every run,
with graphql-core's checks and messages. Objects are completed by ``gateway.execution.plan``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from graphql import FieldNode, GraphQLError, located_error
from graphql.pyutils import Path, Undefined, gather_with_cancel, inspect, is_iterable

from shopwindow.gateway.execution.plan_run import Complete, PlanRun, is_awaitable


def leaf(leaf_type: Any) -> Complete:
    """Completes a nullable scalar or enum."""
    coerce = _coercer(leaf_type)

    def complete_leaf(value: Any, path: Path, run: PlanRun) -> Any:
        if isinstance(value, Exception):
            raise value
        if value is None or value is Undefined:
            return None
        return coerce(value)

    return complete_leaf


def non_null_leaf(leaf_type: Any, message: str) -> Complete:
    """Completes a non-null scalar or enum in one step."""
    coerce = _coercer(leaf_type)

    def complete_non_null_leaf(value: Any, path: Path, run: PlanRun) -> Any:
        if isinstance(value, Exception):
            raise value
        if value is None or value is Undefined:
            raise TypeError(message)
        return coerce(value)

    return complete_non_null_leaf


def non_null(inner: Complete, message: str) -> Complete:
    """Completes with ``inner``, refusing a null."""

    def complete_non_null(value: Any, path: Path, run: PlanRun) -> Any:
        if isinstance(value, Exception):
            raise value
        completed = inner(value, path, run)
        if is_awaitable(completed):
            return _non_null_later(completed, message)
        if completed is None:
            raise TypeError(message)
        return completed

    return complete_non_null


def _coercer(leaf_type: Any) -> Callable[[Any], Any]:
    coerce_output_value = leaf_type.coerce_output_value

    def coerce(value: Any) -> Any:
        coerced = coerce_output_value(value)
        if coerced is Undefined or coerced is None:
            raise TypeError(
                f"Expected `{inspect(leaf_type)}.coerce_output_value("
                f"{inspect(value)})` to return non-nullable value, returned:"
                f" {inspect(coerced)}"
            )
        return coerced

    return coerce


async def _non_null_later(completed: Awaitable[Any], message: str) -> Any:
    value = await completed
    if value is None:
        raise TypeError(message)
    return value


def list_of(
    complete_item: Complete, nodes: list[FieldNode], nullable_items: bool, where: str
) -> Complete:
    """Completes a list item by item, each error at its item's path."""
    message = f"Expected Iterable, but did not find one for field '{where}'."

    def complete_list(value: Any, path: Path, run: PlanRun) -> Any:
        if isinstance(value, Exception):
            raise value
        if value is None or value is Undefined:
            return None
        if not is_iterable(value):
            raise GraphQLError(message)
        completed: list[Any] = []
        pending: list[int] = []
        for index, item in enumerate(value):
            item_path = Path(path, index, None)
            try:
                if is_awaitable(item):
                    done = _item_later(item, complete_item, item_path, run)
                else:
                    done = complete_item(item, item_path, run)
                if is_awaitable(done):
                    done = _item_settled(done, nodes, nullable_items, item_path, run)
                    pending.append(index)
            except Exception as raw:
                error = located_error(raw, nodes, item_path.as_list())
                if not nullable_items:
                    raise error from None
                run.add_error(error, item_path)
                done = None
            completed.append(done)
        if not pending:
            return completed
        return _settle_list(completed, pending)

    return complete_list


async def _item_later(item: Awaitable[Any], complete: Complete, path: Path, run: PlanRun) -> Any:
    done = complete(await item, path, run)
    return await done if is_awaitable(done) else done


async def _item_settled(
    done: Awaitable[Any], nodes: list[FieldNode], nullable: bool, path: Path, run: PlanRun
) -> Any:
    try:
        return await done
    except Exception as raw:
        error = located_error(raw, nodes, path.as_list())
        if not nullable:
            raise error from None
        run.add_error(error, path)
        return None


async def _settle_list(completed: list[Any], pending: list[int]) -> list[Any]:
    settled = await gather_with_cancel(*(completed[i] for i in pending))
    for index, value in zip(pending, settled, strict=True):
        completed[index] = value
    return completed
