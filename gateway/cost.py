"""The estimated cost of an operation, computed before it runs.

Each selected field costs 1, and what is selected inside a field that takes several
products is counted once per product: the length of its ``ids``/``productIds``
argument or its ``first`` (for a subscription, each product it follows). Lists without
such an argument (images, attributes) are bounded by one document and count once.
The estimate depends only on the variables given to those arguments
(``size_variables``), so the policy keeps it per operation and their values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
)
from graphql.type import SchemaMetaFieldDef, TypeMetaFieldDef

_SIZE_BY_LENGTH = ("ids", "productIds")
_SIZE_BY_COUNT = "first"
_SIZE_ARGUMENTS = frozenset({*_SIZE_BY_LENGTH, _SIZE_BY_COUNT})


class CostEstimator:
    """Estimates operations against one schema.

    Args:
        schema: The executable schema.
    """

    def __init__(self, schema: GraphQLSchema) -> None:
        self._schema = schema

    def estimate(
        self,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any] | None,
    ) -> int:
        """The estimated cost of ``operation``.

        Args:
            operation: A validated operation.
            fragments: The document's fragments by name.
            variables: The request's variables (raw JSON values).
        """
        root = self._schema.get_root_type(operation.operation)
        if root is None:
            return 0
        return _Walk(self._schema, fragments, variables or {}).cost(operation.selection_set, root)

    @staticmethod
    def size_variables(
        operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
    ) -> tuple[str, ...]:
        """The variables whose values the estimate of ``operation`` depends on, sorted."""
        found: set[str] = set()
        sets = [operation.selection_set, *(f.selection_set for f in fragments.values())]
        while sets:
            selection_set = sets.pop()
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    for argument in selection.arguments or ():
                        if argument.name.value in _SIZE_ARGUMENTS and isinstance(
                            argument.value, VariableNode
                        ):
                            found.add(argument.value.name.value)
                if isinstance(selection, FieldNode | InlineFragmentNode) and (
                    selection.selection_set is not None
                ):
                    sets.append(selection.selection_set)
        return tuple(sorted(found))


class _Walk:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self._schema = schema
        self._fragments = fragments
        self._variables = variables
        # A fragment's cost depends on its type and the variables only: walked once
        # however often it is spread.
        self._fragment_costs: dict[str, int] = {}

    def cost(self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                # A leaf costs 1 whatever its arguments: most fields are, and skipping
                # their lookups keeps a 2,000-token estimate well under a millisecond.
                total += 1 if selection.selection_set is None else self._field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                scope = self._schema.get_type(condition.name.value) if condition else parent
                total += self.cost(selection.selection_set, scope or parent)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value, parent)
        return total

    def _fragment(self, name: str, parent: GraphQLNamedType) -> int:
        known = self._fragment_costs.get(name)
        if known is not None:
            return known
        fragment = self._fragments.get(name)
        if fragment is None:
            return 0
        scope = self._schema.get_type(fragment.type_condition.name.value) or parent
        cost = self._fragment_costs[name] = self.cost(fragment.selection_set, scope)
        return cost

    def _field(self, node: FieldNode, parent: GraphQLNamedType) -> int:
        definition = self._definition(node.name.value, parent)
        if definition is None:
            return 1
        inner = get_named_type(definition.type)
        items = self._list_size(node, definition)
        return 1 + items * self.cost(node.selection_set, inner)

    def _definition(self, name: str, parent: GraphQLNamedType) -> GraphQLField | None:
        if name == "__schema":
            return SchemaMetaFieldDef
        if name == "__type":
            return TypeMetaFieldDef
        # Objects and interfaces have fields; scalars, enums and unions none.
        fields: dict[str, GraphQLField] = getattr(parent, "fields", {})
        return fields.get(name)

    def _list_size(self, node: FieldNode, definition: GraphQLField) -> int:
        given = {
            a.name.value: self._value(a.value)
            for a in node.arguments or ()
            if a.name.value in _SIZE_ARGUMENTS
        }
        for name in _SIZE_BY_LENGTH:
            if isinstance(given.get(name), list):
                return max(len(given[name]), 1)
        count = given.get(_SIZE_BY_COUNT)
        if count is None and _SIZE_BY_COUNT in definition.args:
            count = definition.args[_SIZE_BY_COUNT].default_value
        if isinstance(count, int) and not isinstance(count, bool):
            return max(count, 1)
        return 1

    def _value(self, node: ValueNode) -> Any:
        if isinstance(node, VariableNode):
            return self._variables.get(node.name.value)
        if isinstance(node, IntValueNode):
            return int(node.value)
        if isinstance(node, ListValueNode):
            return list(node.values)
        return None
