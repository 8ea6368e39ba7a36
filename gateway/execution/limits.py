"""What one operation may ask for: the limits, and the validation rules that bound a
query's depth and aliases."""

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
