"""One run of an execution plan: its state, and how the fields of an object settle.

``gateway.execution.plan`` compiles operations; this module holds what every run needs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeGuard

from graphql import FragmentDefinitionNode, GraphQLError, GraphQLSchema, OperationDefinitionNode
from graphql.execution.values import VariableValues
from graphql.pyutils import Path, gather_with_cancel
from graphql.pyutils import is_awaitable as _is_awaitable
from graphql.type.definition import GraphQLResolveInfoHelpers

# Most values are of these types: no need to ask whether they are awaitable.
_PLAIN: frozenset[type] = frozenset(
    {str, int, float, bool, type(None), dict, list, tuple, Decimal, datetime}
)


def is_awaitable(value: Any) -> TypeGuard[Awaitable[Any]]:
    """Whether ``value`` is awaitable, quickly for plain values."""
    return type(value) not in _PLAIN and _is_awaitable(value)


@dataclass(slots=True)
class PlanRun:
    """The state of one execution of a plan."""

    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    operation: OperationDefinitionNode
    variables: VariableValues
    context: Any
    hide_suggestions: bool
    errors: list[GraphQLError] = field(default_factory=list)
    error_paths: set[tuple[str | int, ...]] = field(default_factory=set)
    tracked: list[Awaitable[Any]] = field(default_factory=list)
    _helpers: GraphQLResolveInfoHelpers | None = None

    @property
    def async_helpers(self) -> GraphQLResolveInfoHelpers:
        """What resolvers get as ``info.async_helpers``: work they ``track`` is awaited
        before the run's result, as graphql-core does. Made on first use (a custom
        resolver's resolve-info)."""
        if self._helpers is None:
            # The list, not the run: helpers that referred to the run would make a cycle
            # that outlives it as garbage (see ``running``).
            tracked = self.tracked
            self._helpers = GraphQLResolveInfoHelpers(
                gather=lambda values: gather_with_cancel(*values),
                track=lambda values: tracked.extend(v for v in values if is_awaitable(v)),
            )
        return self._helpers

    def add_error(self, error: GraphQLError, path: Path) -> None:
        """Record a field error, as graphql-core does: none below a position already
        nulled by another."""
        keys = tuple(path.as_list())
        if any(keys[:n] in self.error_paths for n in range(len(keys) + 1)):
            return
        self.error_paths.add(keys)
        self.errors.append(error)


# (source, path, run) -> the completed value, or an awaitable of it.
FieldRun = Callable[[Any, Path, PlanRun], Any]
# (value, path, run) -> the completed value, or an awaitable of it.
Complete = Callable[[Any, Path, PlanRun], Any]


@dataclass(frozen=True, slots=True)
class ObjectPlan:
    """The fields of one selection on one object type, by response key."""

    type_name: str
    fields: tuple[tuple[str, FieldRun], ...]


def execute_object(plan: ObjectPlan, source: Any, path: Path | None, run: PlanRun) -> Any:
    """The completed fields of ``source``, or an awaitable of them when any is async."""
    results: dict[str, Any] = {}
    pending: list[tuple[str, Awaitable[Any]]] = []
    for key, field_run in plan.fields:
        value = field_run(source, Path(path, key, plan.type_name), run)
        if is_awaitable(value):
            pending.append((key, value))
        results[key] = value
    if not pending:
        return results
    return _settle_object(results, pending)


async def _settle_object(
    results: dict[str, Any], pending: list[tuple[str, Awaitable[Any]]]
) -> dict[str, Any]:
    # A non-null field that fails nulls this object: as graphql-core does, the
    # siblings still running are cancelled and the failure propagates.
    settled = await gather_with_cancel(*(value for _, value in pending))
    for (key, _), value in zip(pending, settled, strict=True):
        results[key] = value
    return results
