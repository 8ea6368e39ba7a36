"""What a result cost: the estimate's weights applied to what was returned.

Each object returned counts its weight, each list its real length, and a field missing
or null nothing. Fields are collected by response key as graphql-core does, so a field
asked for twice (an alias repeated, a fragment overlapping) is counted once, as it is
returned once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    is_abstract_type,
)

if TYPE_CHECKING:
    from shopwindow.gateway.cost.estimate import FieldCost


# (response key, its declared cost, the selections inside it)
_Counted = tuple[str, "FieldCost", list[SelectionSetNode]]


# (type name, ids of the selection sets) -> what is counted of such an object
Collected = dict[tuple[str, tuple[int, ...]], list[_Counted]]


class FieldCosts(Protocol):
    """Where the declared cost of each field is found (``CostEstimator``)."""

    def fields_of(self, parent: str) -> Mapping[str, FieldCost]: ...


class ActualCost:
    """Counts one result's cost.

    Args:
        costs: The cost of each field, by type (``CostEstimator``).
        schema: The executable schema.
        fragments: The operation's fragments by name.
        collected: Selections already collected for this document, kept by its caller
            with the document itself.
    """

    def __init__(
        self,
        costs: FieldCosts,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        collected: Collected | None = None,
    ) -> None:
        self._costs = costs
        self._schema = schema
        self._fragments = fragments
        # Every item of a list shares its selection, and every result of a document
        # its selections: each collected once. Keyed by the nodes' ids, valid for as
        # long as the document they belong to is kept with ``collected``.
        self._collected = collected if collected is not None else {}

    def cost(
        self, selection_sets: list[SelectionSetNode], parent: GraphQLNamedType, data: dict[str, Any]
    ) -> int:
        """What ``data``, an object of type ``parent`` selected by ``selection_sets``,
        costs."""
        if is_abstract_type(parent):
            parent = self._concrete(parent, data)
        total = 0
        for key, field, inner in self._counted(selection_sets, parent):
            value = data.get(key)
            if value is not None:
                total += self._value(value, field, inner)
        return total

    def _value(self, value: Any, field: FieldCost, inner: list[SelectionSetNode]) -> int:
        if type(value) is list:
            return sum(self._value(item, field, inner) for item in value if item is not None)
        if type(value) is dict and inner:
            return field.weight + self.cost(inner, field.inner, value)
        return field.weight

    def _counted(
        self, selection_sets: list[SelectionSetNode], parent: GraphQLNamedType
    ) -> list[_Counted]:
        key = (parent.name, tuple(map(id, selection_sets)))
        counted = self._collected.get(key)
        if counted is None:
            fields = self._costs.fields_of(parent.name)
            counted = []
            for response_key, nodes in self._collect(selection_sets, parent).items():
                field = fields.get(nodes[0].name.value)
                inner = [n.selection_set for n in nodes if n.selection_set is not None]
                # A scalar nobody weighed costs nothing: not even looked at.
                if field is not None and (field.weight or inner):
                    counted.append((response_key, field, inner))
            self._collected[key] = counted
        return counted

    def _concrete(self, abstract: Any, data: dict[str, Any]) -> GraphQLNamedType:
        possible = self._schema.get_possible_types(abstract)
        typename = data.get("__typename")
        for candidate in possible:
            if candidate.name == typename or len(possible) == 1:
                return candidate
        return abstract  # type: ignore[no-any-return]

    def _collect(
        self, selection_sets: list[SelectionSetNode], parent: GraphQLNamedType
    ) -> dict[str, list[FieldNode]]:
        # Like graphql-core's field collection: the response keys of this object, each
        # with every node that asked for it (their selections merge).
        fields: dict[str, list[FieldNode]] = {}
        pending = list(selection_sets)
        seen: set[str] = set()
        while pending:
            for selection in pending.pop(0).selections:
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    fields.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    if _applies(self._schema, selection.type_condition, parent):
                        pending.append(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    fragment = self._fragments.get(selection.name.value)
                    if fragment is not None and selection.name.value not in seen:
                        seen.add(selection.name.value)
                        if _applies(self._schema, fragment.type_condition, parent):
                            pending.append(fragment.selection_set)
        return fields


def _applies(schema: GraphQLSchema, condition: Any, parent: GraphQLNamedType) -> bool:
    if condition is None or condition.name.value == parent.name:
        return True
    scope = schema.get_type(condition.name.value)
    return (
        scope is not None
        and is_abstract_type(scope)
        and any(t.name == parent.name for t in schema.get_possible_types(scope))
    )
