"""Prepared documents: each query text parsed and validated once, with what its
operations compile to and what they cost.

A query text is parsed (within the token limit) and validated against the policy's
rules once, and kept, least recently used out first. Per operation of the document it
keeps the execution plan (``gateway.execution.plan``) and the cost estimates by the values of the
variables the estimate depends on, so that a persisted operation asked again for
another product costs dictionary lookups.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import (
    ASTValidationRule,
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    parse,
    validate,
)

from shopwindow.gateway.cost.actual import Collected
from shopwindow.gateway.cost.estimate import CostEstimator
from shopwindow.gateway.execution.persisted import sha256_of
from shopwindow.gateway.execution.plan import ExecutionPlan, Unplannable

_DOCUMENTS = 1000
_COSTS_PER_OPERATION = 64


@dataclass(frozen=True, slots=True)
class Prepared:
    """A parsed and validated document, with what each of its operations compiles to."""

    document: DocumentNode | None
    errors: list[GraphQLError]
    fragments: Mapping[str, FragmentDefinitionNode]
    # The text's SHA-256, hex: what answers to it are kept by, computed once.
    digest: str
    # By operation name: its plan, or None where graphql-core runs it.
    plans: dict[str | None, ExecutionPlan | None] = field(default_factory=dict)
    # By operation name: the variables its cost depends on, and its cost by their values.
    costs: dict[str | None, tuple[tuple[str, ...], dict[bytes, int]]] = field(default_factory=dict)
    # By operation name: its selections, as counting a result's actual cost collects
    # them (kept here, with the nodes they are keyed by).
    counted: dict[str | None, Collected] = field(default_factory=dict)


class PreparedDocuments:
    """Query texts, prepared once.

    Args:
        schema: The executable schema.
        rules: The validation rules (the specification's and the policy's limits).
        max_tokens: The parser's token limit.
        hide_suggestions: Whether errors leave out "Did you mean ...?".
        plans: Whether queries get execution plans.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        rules: Sequence[type[ASTValidationRule]],
        max_tokens: int,
        hide_suggestions: bool,
        plans: bool,
    ) -> None:
        self._schema = schema
        self._rules = rules
        self._max_tokens = max_tokens
        self._hide_suggestions = hide_suggestions
        self._plans = plans
        self.costs = CostEstimator(schema)
        self._entries: OrderedDict[str, Prepared] = OrderedDict()

    def prepare(self, query: str) -> Prepared:
        """The parsed and validated document of ``query``, from the cache if seen."""
        entry = self._entries.get(query)
        if entry is not None:
            self._entries.move_to_end(query)
            return entry
        entry = self._prepare(query)
        self._entries[query] = entry
        if len(self._entries) > _DOCUMENTS:
            self._entries.popitem(last=False)
        return entry

    def _prepare(self, query: str) -> Prepared:
        digest = sha256_of(query)
        try:
            document = parse(query, max_tokens=self._max_tokens)
        except GraphQLError as error:
            return Prepared(None, [error], {}, digest)
        errors = validate(
            self._schema, document, self._rules, hide_suggestions=self._hide_suggestions
        )
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        return Prepared(document, errors, fragments, digest)

    def cost(
        self,
        prepared: Prepared,
        definition: OperationDefinitionNode,
        operation_name: str | None,
        variables: dict[str, Any] | None,
    ) -> int:
        """The estimated cost of one operation of ``prepared`` with ``variables``."""
        entry = prepared.costs.get(operation_name)
        if entry is None:
            names = self.costs.size_variables(definition, prepared.fragments)
            entry = prepared.costs[operation_name] = (names, {})
        names, by_values = entry
        try:
            key = orjson.dumps([(variables or {}).get(name) for name in names])
        except TypeError:  # E.g. an integer beyond 64 bits: estimated, not kept.
            return self.costs.estimate(definition, prepared.fragments, variables)
        cost = by_values.get(key)
        if cost is None:
            cost = self.costs.estimate(definition, prepared.fragments, variables)
            if len(by_values) >= _COSTS_PER_OPERATION:
                by_values.clear()
            by_values[key] = cost
        return cost

    def plan(
        self, prepared: Prepared, definition: OperationDefinitionNode, operation_name: str | None
    ) -> ExecutionPlan | None:
        """The execution plan of one query of ``prepared``; ``None`` where graphql-core
        runs it."""
        if not self._plans or definition.operation is not OperationType.QUERY:
            return None
        if operation_name not in prepared.plans:
            try:
                plan: ExecutionPlan | None = ExecutionPlan(
                    self._schema, definition, prepared.fragments
                )
            except Unplannable:
                plan = None
            prepared.plans[operation_name] = plan
        return prepared.plans[operation_name]
