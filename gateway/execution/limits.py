"""What one operation may ask for: the limits, and the validation rules that bound a
query's depth and aliases.

Introspection is bounded by rules written for it, not by the depth of data: the
standard introspection query nests 13 or more levels (``__schema { types { fields {
type { ofType ... } } } }``), which no product query needs. ``max_depth_rule`` leaves
the ``__schema`` and ``__type`` fields out; graphql-core's ``MaxIntrospectionDepthRule``
(among ``specified_rules``) refuses ``fields``, ``interfaces``, ``possibleTypes`` and
``inputFields`` nested three deep, as graphql-js does, and ``max_type_wrapping_rule``
refuses ``ofType`` chains longer than any tool sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)


@dataclass(frozen=True, slots=True)
class Limits:
    """What one operation may ask for."""

    max_depth: int
    max_aliases: int
    max_tokens: int
    max_cost: int
    timeout_s: float
    introspection: bool
    persisted_query_bytes: int = 16 * 1024 * 1024


# The root fields of introspection; graphql-core's validation allows them on the query
# type alone.
INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})
# ``ofType`` nested deeper than this is refused: graphql-js's introspection query sends
# 7 (16.x) or 9 (17.x), and a wrapped type of a real schema ([[String!]!]!) needs 5.
MAX_TYPE_WRAPPING = 16
_WALKED_LEVELS = 4 * (MAX_TYPE_WRAPPING + 4)


def max_depth_rule(max_depth: int) -> type[ValidationRule]:
    """A rule rejecting operations nested deeper than ``max_depth`` fields."""

    class MaxDepthRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            fragments = {
                definition.name.value: definition
                for definition in self.context.document.definitions
                if isinstance(definition, FragmentDefinitionNode)
            }
            depth = _depth(node.selection_set, fragments, 0, max_depth, frozenset())
            if depth > max_depth:
                self.report_error(
                    GraphQLError(
                        f"Query is nested {depth} levels deep; the limit is {max_depth}.",
                        node,
                        extensions={"code": "QUERY_TOO_DEEP"},
                    )
                )

    return MaxDepthRule


def _depth(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    depth: int,
    limit: int,
    visited: frozenset[str],
) -> int:
    if selection_set is None or depth > limit:
        return depth
    deepest = depth
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value in INTROSPECTION_ROOTS:
                continue  # Introspection's own rules bound it.
            deeper = _depth(selection.selection_set, fragments, depth + 1, limit, visited)
        elif isinstance(selection, InlineFragmentNode):
            deeper = _depth(selection.selection_set, fragments, depth, limit, visited)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in visited:  # Cycles are another rule's error.
                continue
            deeper = _depth(fragment.selection_set, fragments, depth, limit, visited | {name})
        else:
            continue
        deepest = max(deepest, deeper)
    return deepest


def max_aliases_rule(max_aliases: int) -> type[ValidationRule]:
    """A rule rejecting documents with more than ``max_aliases`` aliased fields."""

    class MaxAliasesRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self._count = 0
            self._reported = False

        def enter_field(self, node: FieldNode, *_: Any) -> None:
            if node.alias is None:
                return
            self._count += 1
            if self._count > max_aliases and not self._reported:
                self._reported = True
                self.report_error(
                    GraphQLError(
                        f"Query uses more than {max_aliases} aliases.",
                        node,
                        extensions={"code": "TOO_MANY_ALIASES"},
                    )
                )

    return MaxAliasesRule


class MaxTypeWrappingRule(ValidationRule):
    """Refuses ``ofType`` nested deeper than ``MAX_TYPE_WRAPPING``, through fragments
    too: each level is cheap, but the chain is the one introspection path that the
    depth limit leaves out and ``MaxIntrospectionDepthRule`` does not count."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        fragments = {
            definition.name.value: definition
            for definition in self.context.document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        if _of_type_depth(node.selection_set, fragments, 0, frozenset()) > MAX_TYPE_WRAPPING:
            self.report_error(
                GraphQLError(
                    f"Introspection nests ofType more than {MAX_TYPE_WRAPPING} deep.",
                    node,
                    extensions={"code": "QUERY_TOO_DEEP"},
                )
            )


def _of_type_depth(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    run: int,
    visited: frozenset[str],
    level: int = 0,
) -> int:
    # The longest run of ``ofType`` fields nested in one another below ``selection_set``.
    # Past ``_WALKED_LEVELS`` the other rules have refused the document already (lists
    # nest at most three deep in valid introspection); stopping keeps the stack bounded.
    if selection_set is None or run > MAX_TYPE_WRAPPING or level > _WALKED_LEVELS:
        return run
    deepest = run
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            nested = run + 1 if selection.name.value == "ofType" else 0
            deeper = _of_type_depth(selection.selection_set, fragments, nested, visited, level + 1)
        elif isinstance(selection, InlineFragmentNode):
            deeper = _of_type_depth(selection.selection_set, fragments, run, visited, level)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in visited:
                continue
            deeper = _of_type_depth(fragment.selection_set, fragments, run, visited | {name}, level)
        else:
            continue
        deepest = max(deepest, deeper)
    return deepest
