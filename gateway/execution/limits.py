"""What one operation may ask for: the limits, and the validation rules that bound a
query's depth and aliases.

Introspection is bounded by rules written for it, not by the depth of data: the
standard introspection query nests 13 or more levels (``__schema { types { fields {
type { ofType ... } } } }``), which no product query needs. ``max_depth_rule`` leaves
the ``__schema`` and ``__type`` fields out; graphql-core's ``MaxIntrospectionDepthRule``
(among ``specified_rules``) refuses ``fields``, ``interfaces``, ``possibleTypes`` and
``inputFields`` nested three deep, as graphql-js does, and ``MaxTypeWrappingRule``
refuses ``ofType`` chains longer than any tool sends. Both rules of this module walk
each fragment once (``fragment_summaries``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

from shopwindow.gateway.execution.fragment_summaries import fragments_of, summarise_fragments


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


def max_depth_rule(max_depth: int) -> type[ValidationRule]:
    """A rule rejecting operations nested deeper than ``max_depth`` fields."""

    class MaxDepthRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self._fragments: dict[str, int] | None = None

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            if self._fragments is None:  # Once per document, for all its operations.
                fragments = fragments_of(self.context.document)
                self._fragments = summarise_fragments(fragments, _depth)
            depth = _depth(node.selection_set, self._fragments.get)
            if depth > max_depth:
                self.report_error(
                    GraphQLError(
                        f"Query is nested {depth} levels deep; the limit is {max_depth}.",
                        node,
                        extensions={"code": "QUERY_TOO_DEEP"},
                    )
                )

    return MaxDepthRule


def _depth(selection_set: SelectionSetNode | None, fragment: Callable[[str], int | None]) -> int:
    # How many fields deep ``selection_set`` nests, its fragments' depths read from
    # ``fragment``.
    deepest = 0
    for selection in selection_set.selections if selection_set is not None else ():
        if isinstance(selection, FieldNode):
            if selection.name.value in INTROSPECTION_ROOTS:
                continue  # Introspection's own rules bound it.
            deepest = max(deepest, 1 + _depth(selection.selection_set, fragment))
        elif isinstance(selection, InlineFragmentNode):
            deepest = max(deepest, _depth(selection.selection_set, fragment))
        elif isinstance(selection, FragmentSpreadNode):
            deepest = max(deepest, fragment(selection.name.value) or 0)
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
    too: the chain is the one introspection path that the depth limit leaves out and
    ``MaxIntrospectionDepthRule`` does not count."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self._fragments: dict[str, tuple[int, int]] | None = None

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        if self._fragments is None:  # Once per document, for all its operations.
            fragments = fragments_of(self.context.document)
            self._fragments = summarise_fragments(fragments, _of_type_runs)
        if max(_of_type_runs(node.selection_set, self._fragments.get)) > MAX_TYPE_WRAPPING:
            self.report_error(
                GraphQLError(
                    f"Introspection nests ofType more than {MAX_TYPE_WRAPPING} deep.",
                    node,
                    extensions={"code": "QUERY_TOO_DEEP"},
                )
            )


def _of_type_runs(
    selection_set: SelectionSetNode | None, fragment: Callable[[str], tuple[int, int] | None]
) -> tuple[int, int]:
    # The runs of ``ofType`` fields nested in one another in ``selection_set``: the
    # longest that starts at its top (which continues a run its parent began), and the
    # longest wholly inside it.
    top = inner = 0
    for selection in selection_set.selections if selection_set is not None else ():
        if isinstance(selection, FieldNode):
            below, within = _of_type_runs(selection.selection_set, fragment)
            if selection.name.value == "ofType":
                top, inner = max(top, 1 + below), max(inner, within)
            else:
                inner = max(inner, below, within)
        else:
            if isinstance(selection, InlineFragmentNode):
                runs = _of_type_runs(selection.selection_set, fragment)
            elif isinstance(selection, FragmentSpreadNode):
                runs = fragment(selection.name.value) or (0, 0)
            else:
                continue
            top, inner = max(top, runs[0]), max(inner, runs[1])
    return top, inner
