"""Execution plans: a prepared query compiled once, run without graphql-core's
per-field machinery (the Python counterpart of graphql-jit).

graphql-core collects the fields of every object anew, builds a resolve-info object and
a path for every field, and finds out each value's kind by inspection, on every request.
A plan does that work once per prepared operation: each field becomes a closure that
knows its response key, how to read its value and how to complete it. Fields with no
custom resolver (most of a product) read the typed document straight through
Strawberry's getter without a resolve-info object; custom resolvers still get one, with
their coerced arguments. Errors are located, nulled and propagated as graphql-core does
(``tests/gateway/execution/test_plan.py`` compares the two executors on generated queries).

What a plan does not cover is left to graphql-core (``Unplannable``): subscriptions and
mutations, introspection, directives on selections, and abstract types.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from typing import Any

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
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.pyutils import Path, Undefined

from shopwindow.gateway.errors import GatewayError
from shopwindow.gateway.execution.plan_run import (
    Complete,
    FieldRun,
    ObjectPlan,
    PlanRun,
    execute_object,
    is_awaitable,
)
from shopwindow.gateway.execution.plan_values import leaf, list_of, non_null, non_null_leaf


class Unplannable(GatewayError):
    """An operation a plan does not cover; graphql-core runs it. Never reaches a client."""


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
        run = PlanRun(
            self._schema, self._fragments, self._operation, coerced, context, hide_suggestions
        )
        try:
            data = execute_object(self._root, None, None, run)
        except GraphQLError as error:
            run.errors.append(error)  # A non-null root field failed: no data at all.
            return ExecutionResult(None, run.errors)
        if is_awaitable(data) or run.tracked:
            return _finish(data, run)
        return ExecutionResult(data, run.errors or None)


async def _finish(data: Any, run: PlanRun) -> ExecutionResult:
    try:
        if is_awaitable(data):
            data = await data
    except GraphQLError as error:
        run.errors.append(error)
        data = None
    if run.tracked:
        await asyncio.gather(*run.tracked, return_exceptions=True)
    return ExecutionResult(data, run.errors or None)


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
) -> ObjectPlan:
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
    return ObjectPlan(object_type.name, tuple(compiled))


def _constant(value: str) -> FieldRun:
    def run_constant(source: Any, path: Path, run: PlanRun) -> str:
        return value

    return run_constant


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

    def fail(raw: Exception, path: Path, run: PlanRun) -> None:
        error = located_error(raw, nodes, path.as_list())
        if not nullable:
            raise error
        run.add_error(error, path)

    def run_field(source: Any, path: Path, run: PlanRun) -> Any:
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
                    run.async_helpers,
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

    async def settle(result: Awaitable[Any], path: Path, run: PlanRun) -> Any:
        try:
            completed = complete(await result, path, run)
            return await completed if is_awaitable(completed) else completed
        except Exception as raw:
            return fail(raw, path, run)

    async def settle_completed(completed: Awaitable[Any], path: Path, run: PlanRun) -> Any:
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
            return non_null_leaf(return_type.of_type, message)
        return non_null(_completer(plan, return_type.of_type, nodes, where), message)
    if isinstance(return_type, GraphQLList):
        item_type = return_type.of_type
        complete_item = _completer(plan, item_type, nodes, where)
        return list_of(complete_item, nodes, not isinstance(item_type, GraphQLNonNull), where)
    if is_leaf_type(return_type):
        return leaf(return_type)
    if not isinstance(return_type, GraphQLObjectType):
        raise Unplannable("abstract types")
    sub_plan = _compile_object(
        plan, return_type, [n.selection_set for n in nodes if n.selection_set]
    )

    def complete_object(value: Any, path: Path, run: PlanRun) -> Any:
        if isinstance(value, Exception):
            raise value
        if value is None or value is Undefined:
            return None
        return execute_object(sub_plan, value, path, run)

    return complete_object
