"""Execution plans: a prepared query compiled once, run without graphql-core's
per-field machinery (the Python counterpart of graphql-jit).

graphql-core collects the fields of every object anew, builds a resolve-info object and
a path for every field, and finds out each value's kind by inspection, on every request.
A plan does that work once per prepared operation: each field becomes a closure that
knows its response key, how to read its value and how to complete it. Fields with no
custom resolver (most of a product) read the typed document straight through
Strawberry's getter without a resolve-info object; custom resolvers still get one, with
their coerced arguments. Errors are located, nulled and propagated as graphql-core does
(``tests/gateway/test_plan.py`` compares the two executors on generated queries).

What a plan does not cover is left to graphql-core (``Unplannable``): subscriptions and
mutations, introspection, directives on selections, and abstract types.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeGuard

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    default_field_resolver,
    is_leaf_type,
    located_error,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.pyutils import Path, Undefined, gather_with_cancel, inspect, is_iterable
from graphql.pyutils import is_awaitable as _is_awaitable
from graphql.type.definition import GraphQLResolveInfoHelpers

# Most values are of these types: no need to ask whether they are awaitable.
_PLAIN: frozenset[type] = frozenset(
    {str, int, float, bool, type(None), dict, list, tuple, Decimal, datetime}
)


def is_awaitable(value: Any) -> TypeGuard[Awaitable[Any]]:
    """Whether ``value`` is awaitable, quickly for plain values."""
    return type(value) not in _PLAIN and _is_awaitable(value)


class Unplannable(Exception):
    """An operation a plan does not cover; graphql-core runs it."""


@dataclass(slots=True)
class _Run:
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

    def add_error(self, error: GraphQLError, path: Path) -> None:
        # As graphql-core: no error below a position already nulled by another.
        keys = tuple(path.as_list())
        if any(keys[:n] in self.error_paths for n in range(len(keys) + 1)):
            return
        self.error_paths.add(keys)
        self.errors.append(error)


# (source, path, run) -> the completed value, or an awaitable of it.
FieldRun = Callable[[Any, Path, _Run], Any]
# (value, path, run) -> the completed value, or an awaitable of it.
Complete = Callable[[Any, Path, _Run], Any]


@dataclass(frozen=True, slots=True)
class _ObjectPlan:
    type_name: str
    fields: tuple[tuple[str, FieldRun], ...]


class ExecutionPlan:
    """One query operation of a document, compiled for its schema.

    Args:
        schema: The executable schema.
        operation: The operation to run (a query).
        fragments: The document's fragments by name.

    Raises:
        Unplannable: When graphql-core should run the operation instead.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
    ) -> None:
        if operation.operation is not OperationType.QUERY or schema.query_type is None:
            raise Unplannable("only queries are planned")
        self._schema = schema
        self._operation = operation
        self._fragments = dict(fragments)
        self._fields: set[str] = set()
        self._arguments: set[str] = set()
        self._root = _compile_object(self, schema.query_type, [operation.selection_set])
        self.fields = frozenset(self._fields)
        self.arguments = frozenset(self._arguments)

    fields: frozenset[str]
    """Every field the plan reads, as ``Type.field``."""
    arguments: frozenset[str]
    """Every argument its fields are given, as ``Type.field(argument)``."""

    def execute(
        self, context: Any, variables: dict[str, Any] | None, hide_suggestions: bool
    ) -> ExecutionResult | Awaitable[ExecutionResult]:
        """Run the plan, as ``graphql.execute`` would run the operation."""
        coerced = get_variable_values(
            self._schema,
            self._operation.variable_definitions or (),
            variables or {},
            hide_suggestions=hide_suggestions,
        )
        if isinstance(coerced, list):
            return ExecutionResult(None, coerced)
        run = _Run(
            self._schema, self._fragments, self._operation, coerced, context, hide_suggestions
        )
        try:
            data = _execute_object(self._root, None, None, run)
        except GraphQLError as error:
            run.errors.append(error)  # A non-null root field failed: no data at all.
            return ExecutionResult(None, run.errors)
        if is_awaitable(data) or run.tracked:
            return _finish(data, run)
        return ExecutionResult(data, run.errors or None)


async def _finish(data: Any, run: _Run) -> ExecutionResult:
    try:
        if is_awaitable(data):
            data = await data
    except GraphQLError as error:
        run.errors.append(error)
        data = None
    if run.tracked:
        await asyncio.gather(*run.tracked, return_exceptions=True)
    return ExecutionResult(data, run.errors or None)


def _execute_object(plan: _ObjectPlan, source: Any, path: Path | None, run: _Run) -> Any:
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


def _collect(
    plan: ExecutionPlan,
    object_type: GraphQLObjectType,
    selection_sets: Iterable[SelectionSetNode],
) -> dict[str, list[FieldNode]]:
    fields: dict[str, list[FieldNode]] = {}
    visited: set[str] = set()

    def visit(selection_set: SelectionSetNode) -> None:
        for selection in selection_set.selections:
            if selection.directives:
                raise Unplannable("directives on selections")
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                fields.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if _applies(plan, selection.type_condition, object_type):
                    visit(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = plan._fragments.get(name)
                if name in visited or fragment is None:
                    continue
                visited.add(name)
                if _applies(plan, fragment.type_condition, object_type):
                    visit(fragment.selection_set)

    for selection_set in selection_sets:
        visit(selection_set)
    return fields


def _applies(plan: ExecutionPlan, condition: Any, object_type: GraphQLObjectType) -> bool:
    if condition is None:
        return True
    condition_type = plan._schema.get_type(condition.name.value)
    if condition_type is object_type:
        return True
    if condition_type is None or isinstance(condition_type, GraphQLObjectType):
        return False
    return plan._schema.is_sub_type(condition_type, object_type)  # type: ignore[arg-type]


def _compile_object(
    plan: ExecutionPlan, object_type: GraphQLObjectType, selection_sets: Sequence[SelectionSetNode]
) -> _ObjectPlan:
    if object_type.is_type_of is not None:
        raise Unplannable("is_type_of checks")
    compiled = []
    for key, nodes in _collect(plan, object_type, selection_sets).items():
        name = nodes[0].name.value
        if name == "__typename":
            compiled.append((key, _constant(object_type.name)))
            continue
        definition = object_type.fields.get(name)
        if definition is None:
            raise Unplannable(f"{name} is not a field of {object_type.name}")
        where = f"{object_type.name}.{name}"
        plan._fields.add(where)
        plan._arguments.update(f"{where}({a.name.value})" for n in nodes for a in n.arguments or ())
        complete = _completer(plan, definition.type, nodes, where)
        compiled.append((key, _field(object_type, name, nodes, definition, complete)))
    return _ObjectPlan(object_type.name, tuple(compiled))


def _constant(value: str) -> FieldRun:
    def run_constant(source: Any, path: Path, run: _Run) -> str:
        return value

    return run_constant


_HELPERS = GraphQLResolveInfoHelpers(
    gather=lambda values: gather_with_cancel(*values),
    track=lambda values: None,
)


def _field(
    parent: GraphQLObjectType,
    name: str,
    nodes: list[FieldNode],
    definition: Any,
    complete: Complete,
) -> FieldRun:
    return_type = definition.type
    nullable = not isinstance(return_type, GraphQLNonNull)
    resolve = definition.resolve
    # Strawberry marks fields without a resolver: they need no resolve-info nor arguments,
    # and its field's getter reads them (the frame of Strawberry's wrapper is skipped).
    basic = (
        resolve is not None and getattr(resolve, "_is_default", False) and not nodes[0].arguments
    )
    strawberry_field = (definition.extensions or {}).get("strawberry-definition")
    read = getattr(strawberry_field, "get_result", None)
    has_arguments = bool(definition.args or nodes[0].arguments)

    def fail(raw: Exception, path: Path, run: _Run) -> None:
        error = located_error(raw, nodes, path.as_list())
        if not nullable:
            raise error
        run.add_error(error, path)

    def run_field(source: Any, path: Path, run: _Run) -> Any:
        try:
            if basic:
                result = read(source, None, (), {}) if read is not None else resolve(source, None)
            else:
                info = GraphQLResolveInfo(
                    name,
                    nodes,
                    return_type,
                    parent,
                    path,
                    run.schema,
                    run.fragments,
                    None,
                    run.operation,
                    run.variables,
                    run.context,
                    is_awaitable,
                    None,
                    _HELPERS,
                )
                arguments = (
                    get_argument_values(
                        definition, nodes[0], run.variables, None, run.hide_suggestions
                    )
                    if has_arguments
                    else {}
                )
                result = (resolve or default_field_resolver)(source, info, **arguments)
            if is_awaitable(result):
                return settle(result, path, run)
            completed = complete(result, path, run)
            if is_awaitable(completed):
                return settle_completed(completed, path, run)
            return completed
        except Exception as raw:
            return fail(raw, path, run)

    async def settle(result: Awaitable[Any], path: Path, run: _Run) -> Any:
        try:
            completed = complete(await result, path, run)
            return await completed if is_awaitable(completed) else completed
        except Exception as raw:
            return fail(raw, path, run)

    async def settle_completed(completed: Awaitable[Any], path: Path, run: _Run) -> Any:
        try:
            return await completed
        except Exception as raw:
            return fail(raw, path, run)

    return run_field


def _completer(
    plan: ExecutionPlan, return_type: GraphQLOutputType, nodes: list[FieldNode], where: str
) -> Complete:
    if isinstance(return_type, GraphQLNonNull):
        message = f"Cannot return null for non-nullable field {where}."
        if is_leaf_type(return_type.of_type):
            return _non_null_leaf(return_type.of_type, message)
        inner = _completer(plan, return_type.of_type, nodes, where)

        def complete_non_null(value: Any, path: Path, run: _Run) -> Any:
            if isinstance(value, Exception):
                raise value
            completed = inner(value, path, run)
            if is_awaitable(completed):
                return _non_null_later(completed, message)
            if completed is None:
                raise TypeError(message)
            return completed

        return complete_non_null
    if isinstance(return_type, GraphQLList):
        return _list_completer(plan, return_type, nodes, where)
    if is_leaf_type(return_type):
        coerce = _coercer(return_type)

        def complete_leaf(value: Any, path: Path, run: _Run) -> Any:
            if isinstance(value, Exception):
                raise value
            if value is None or value is Undefined:
                return None
            return coerce(value)

        return complete_leaf
    if not isinstance(return_type, GraphQLObjectType):
        raise Unplannable("abstract types")
    sub_plan = _compile_object(
        plan, return_type, [n.selection_set for n in nodes if n.selection_set]
    )

    def complete_object(value: Any, path: Path, run: _Run) -> Any:
        if isinstance(value, Exception):
            raise value
        if value is None or value is Undefined:
            return None
        return _execute_object(sub_plan, value, path, run)

    return complete_object


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


def _non_null_leaf(leaf_type: Any, message: str) -> Complete:
    coerce = _coercer(leaf_type)

    def complete_non_null_leaf(value: Any, path: Path, run: _Run) -> Any:
        if isinstance(value, Exception):
            raise value
        if value is None or value is Undefined:
            raise TypeError(message)
        return coerce(value)

    return complete_non_null_leaf


async def _non_null_later(completed: Awaitable[Any], message: str) -> Any:
    value = await completed
    if value is None:
        raise TypeError(message)
    return value


def _list_completer(
    plan: ExecutionPlan, return_type: GraphQLList[Any], nodes: list[FieldNode], where: str
) -> Complete:
    item_type = return_type.of_type
    complete_item = _completer(plan, item_type, nodes, where)
    nullable_items = not isinstance(item_type, GraphQLNonNull)
    message = f"Expected Iterable, but did not find one for field '{where}'."

    def complete_list(value: Any, path: Path, run: _Run) -> Any:
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


async def _item_later(item: Awaitable[Any], complete: Complete, path: Path, run: _Run) -> Any:
    done = complete(await item, path, run)
    return await done if is_awaitable(done) else done


async def _item_settled(
    done: Awaitable[Any], nodes: list[FieldNode], nullable: bool, path: Path, run: _Run
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
