"""What an operation costs: estimated before it runs, and counted after.

The rules are the IBM cost directive specification's, as Apollo Router and Hive Gateway
apply them, read from the ``@cost`` and ``@listSize`` the schema declares
(``shopwindow.cost_directives``):

* a field costs its weight: its own ``@cost``, else its type's, else 1 for an object
  (interface, union) and 0 for a scalar or enum; plus what is selected inside it;
* a list field costs that times its size: the value of its slicing argument (``first``),
  else its ``assumedSize``, else the size its parent gave it (``sizedFields``), else
  ``DEFAULT_LIST_SIZE``;
* one refinement of ours, since the specification slices by integers only: a field
  that declares ``@listSize`` without slicing arguments and takes one required list
  (``products(ids:)``) has that list's length as its size. Its ``assumedSize`` (the
  cap on the list) is what a router assumes: never less than our estimate;
* the root operation type costs nothing;
* introspection reads the schema, whose sizes are known: each of its lists has the
  mean length that list has in this schema (``introspection_sizes``), so that the
  standard introspection query costs about what it returns. ``ofType`` costs nothing:
  a type's wrappers are mostly null, and their chain is bounded by a rule of its own.

The estimate depends only on the variables given to slicing arguments
(``size_variables``), so the policy keeps it per operation and their values. The actual
cost applies the same weights to the result: each object returned counts, and each list
counts its real length.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
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
    is_composite_type,
    is_list_type,
    is_non_null_type,
)
from graphql.type import SchemaMetaFieldDef, TypeMetaFieldDef

from shopwindow.cost_directives import DEFAULT_LIST_SIZE, declared_by
from shopwindow.gateway.cost.actual import ActualCost, Collected
from shopwindow.gateway.cost.introspection import introspection_sizes

# Federation's generated ``_entities`` field takes one item per representation.
_GENERATED_LENGTH = {("Query", "_entities"): "representations"}
_NO_FIELDS: Mapping[str, FieldCost] = {}
_NO_SIZES: Mapping[str, int] = {}


@dataclass(frozen=True, slots=True)
class FieldCost:
    """What one field costs, from the schema's declarations."""

    weight: int
    is_list: bool
    inner: GraphQLNamedType
    slicing: tuple[str, ...] = ()
    assumed: int | None = None
    sized_fields: frozenset[str] = frozenset()
    defaults: tuple[tuple[str, Any], ...] = ()
    length_of: str | None = None


class CostEstimator:
    """Estimates and counts operations against one schema.

    Args:
        schema: The executable schema.
    """

    def __init__(self, schema: GraphQLSchema) -> None:
        self._schema = schema
        self._fields: dict[str, dict[str, FieldCost]] = {}
        slicing: set[str] = set()
        for named in schema.type_map.values():
            fields: Mapping[str, GraphQLField] = getattr(named, "fields", {})
            costs = self._fields[named.name] = {
                name: self._field_cost(named.name, name, field) for name, field in fields.items()
            }
            for field_cost in costs.values():
                slicing.update(field_cost.slicing)
                if field_cost.length_of is not None:
                    slicing.add(field_cost.length_of)
        for (parent, name), size in introspection_sizes(schema).items():
            self._fields[parent][name] = replace(self._fields[parent][name], assumed=size)
        # A type's wrappers (``[Int!]!``) are mostly null in a result, and their chain
        # is bounded by its own rule (``MaxTypeWrappingRule``): counted as free.
        self._fields["__Type"]["ofType"] = replace(self._fields["__Type"]["ofType"], weight=0)
        if schema.query_type is not None:
            self._fields[schema.query_type.name].update(
                __schema=self._field_cost("", "__schema", SchemaMetaFieldDef),
                __type=self._field_cost("", "__type", TypeMetaFieldDef),
            )
        self._slicing_arguments = frozenset(slicing)

    def _field_cost(self, parent: str, name: str, field: GraphQLField) -> FieldCost:
        declared = declared_by(field)
        named = get_named_type(field.type)
        weight = declared.weight
        if weight is None:
            weight = declared_by(named).weight
        if weight is None:
            weight = 1 if is_composite_type(named) else 0
        slicing = declared.slicing
        length_of = _GENERATED_LENGTH.get((parent, name))
        if declared.has_list_size and not slicing:
            required_lists = [
                arg
                for arg, argument in field.args.items()
                if is_non_null_type(argument.type) and is_list_type(argument.type.of_type)
            ]
            if len(required_lists) == 1:
                length_of = required_lists[0]
        unwrapped = field.type.of_type if is_non_null_type(field.type) else field.type
        defaults = tuple(
            (arg, field.args[arg].default_value)
            for arg in slicing
            if arg in field.args and field.args[arg].default_value is not None
        )
        return FieldCost(
            weight,
            is_list_type(unwrapped),
            named,
            slicing,
            declared.assumed,
            declared.sized_fields,
            defaults,
            length_of,
        )

    def fields_of(self, parent: str) -> Mapping[str, FieldCost]:
        """The cost of each field of the type named ``parent``."""
        return self._fields.get(parent, _NO_FIELDS)

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
        walk = _Estimate(self, self._schema, fragments, variables or {})
        return walk.cost(operation.selection_set, root, {})

    def actual(
        self,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        data: Any,
        collected: Collected | None = None,
    ) -> int:
        """The cost of what ``operation`` returned: ``data``, the result's data.

        Args:
            operation: The operation that ran.
            fragments: Its document's fragments by name.
            data: The result's data.
            collected: Kept with the parsed document, so that its selections are
                collected once, not once per result.
        """
        root = self._schema.get_root_type(operation.operation)
        if root is None or not isinstance(data, dict):
            return 0
        count = ActualCost(self, self._schema, fragments, collected)
        return count.cost([operation.selection_set], root, data)

    def size_variables(
        self, operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
    ) -> tuple[str, ...]:
        """The variables whose values the estimate of ``operation`` depends on, sorted."""
        found: set[str] = set()
        sets = [operation.selection_set, *(f.selection_set for f in fragments.values())]
        while sets:
            selection_set = sets.pop()
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    for argument in selection.arguments or ():
                        if argument.name.value in self._slicing_arguments and isinstance(
                            argument.value, VariableNode
                        ):
                            found.add(argument.value.name.value)
                if isinstance(selection, FieldNode | InlineFragmentNode) and (
                    selection.selection_set is not None
                ):
                    sets.append(selection.selection_set)
        return tuple(sorted(found))


class _Estimate:
    def __init__(
        self,
        costs: CostEstimator,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self._costs = costs
        self._schema = schema
        self._fragments = fragments
        self._variables = variables
        # A fragment's cost depends on its type, the sizes its parent gave and the
        # variables only: walked once however often it is spread.
        self._fragment_costs: dict[tuple[str, str, tuple[tuple[str, int], ...]], int] = {}

    def cost(
        self,
        selection_set: SelectionSetNode | None,
        parent: GraphQLNamedType,
        sizes: Mapping[str, int],
    ) -> int:
        if selection_set is None:
            return 0
        fields = self._costs.fields_of(parent.name)
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                field = fields.get(selection.name.value)
                # Unknown (__typename) or, as most leaves, free: nothing to walk, which
                # keeps a 2,000-token estimate well under a millisecond.
                if field is not None and (field.weight or selection.selection_set):
                    total += self._field(selection, field, sizes)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                scope = self._schema.get_type(condition.name.value) if condition else parent
                total += self.cost(selection.selection_set, scope or parent, sizes)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value, parent, sizes)
        return total

    def _fragment(self, name: str, parent: GraphQLNamedType, sizes: Mapping[str, int]) -> int:
        key = (name, parent.name, tuple(sorted(sizes.items())))
        known = self._fragment_costs.get(key)
        if known is not None:
            return known
        fragment = self._fragments.get(name)
        if fragment is None:
            return 0
        scope = self._schema.get_type(fragment.type_condition.name.value) or parent
        cost = self._fragment_costs[key] = self.cost(fragment.selection_set, scope, sizes)
        return cost

    def _field(self, node: FieldNode, field: FieldCost, sizes: Mapping[str, int]) -> int:
        size = self._size(node, field, sizes.get(node.name.value))
        inner: Mapping[str, int] = _NO_SIZES
        own = size
        if field.sized_fields:
            inner = dict.fromkeys(field.sized_fields, size)
            own = 1
        children = self.cost(node.selection_set, field.inner, inner)
        return own * (field.weight + children)

    def _size(self, node: FieldNode, field: FieldCost, given_by_parent: int | None) -> int:
        if field.length_of is not None:
            for argument in node.arguments or ():
                if argument.name.value == field.length_of:
                    size = self._value_size(argument.value, field, field.length_of)
                    if size is not None:
                        return size
        if field.slicing:
            given = {a.name.value: a.value for a in node.arguments or ()}
            sizes = [
                size
                for name in field.slicing
                if (size := self._value_size(given.get(name), field, name)) is not None
            ]
            if sizes:
                return max(sizes)
        if field.assumed is not None:
            return max(field.assumed, 0)
        if given_by_parent is not None:
            return given_by_parent
        return DEFAULT_LIST_SIZE if field.is_list else 1

    def _value_size(self, node: ValueNode | None, field: FieldCost, name: str) -> int | None:
        if node is None:
            value = dict(field.defaults).get(name)
        elif isinstance(node, VariableNode):
            value = self._variables.get(node.name.value)
        elif isinstance(node, IntValueNode):
            value = int(node.value)
        elif isinstance(node, ListValueNode):
            value = node.values
        else:
            value = None
        if isinstance(value, list | tuple):
            return len(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return max(value, 0)
        return None
