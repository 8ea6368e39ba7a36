"""One GraphQL policy for every transport: HTTP and both WebSocket protocols.

Each operation, whatever carried it, goes through ``OperationPolicy``: the document is
parsed and validated once per query text (token, depth and alias limits, the
introspection switch, no field suggestions while introspection is off), its cost is
estimated and capped, it is admitted against its client's budget (``admission``), it
runs with a fresh context under one timeout (``running``), every error a resolver
raised is masked the same way and logged with the operation's request id
(``masking``), and its result reports and settles its cost (``settlement``). The
policy holds those parts together; each transport talks to it alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLSchema,
    get_introspection_query,
    get_operation_ast,
    specified_rules,
)
from graphql.validation import NoSchemaIntrospectionCustomRule

from shopwindow.gateway.cost.budget import ClientBudgets
from shopwindow.gateway.execution.admission import Admission
from shopwindow.gateway.execution.limits import (
    Limits,
    MaxTypeWrappingRule,
    max_aliases_rule,
    max_depth_rule,
)
from shopwindow.gateway.execution.localization import Localizer
from shopwindow.gateway.execution.masking import ErrorMasking
from shopwindow.gateway.execution.operation import Operation, OperationRefused, counted_refusal
from shopwindow.gateway.execution.persisted import PersistedOperations, PersistedRefusal
from shopwindow.gateway.execution.prepared import PreparedDocuments
from shopwindow.gateway.execution.running import Executor
from shopwindow.gateway.execution.settlement import Settlement
from shopwindow.gateway.metrics import GatewayMetrics
from shopwindow.markets import Markets, single_market

# The largest standard introspection query: every option graphql-core's builder has.
# GraphiQL, GraphQL Code Generator, rover and the API clients send a subset of it.
FULL_INTROSPECTION = get_introspection_query(
    descriptions=True,
    specified_by_url=True,
    directive_is_repeatable=True,
    schema_description=True,
    input_value_deprecation=True,
    one_of=True,
)


class OperationPolicy:
    """Checks, admits, runs, masks and settles operations.

    Args:
        schema: The executable schema.
        limits: The limits of every operation.
        metrics: Where to count errors.
        trusted_documents: The only operations that may run, by id (trusted-documents
            mode); ``None`` runs any valid operation, with automatic persisted queries.
        plans: Run queries through execution plans (``execution.plan``); graphql-core
            runs everything when off.
        budgets: Per-client cost budgets; ``None`` admits every checked operation.
        clock: Seconds, for the budgets.
        markets: The markets ``@inContext`` chooses among.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        limits: Limits,
        metrics: GatewayMetrics,
        trusted_documents: Mapping[str, str] | None = None,
        plans: bool = True,
        budgets: ClientBudgets | None = None,
        clock: Callable[[], float] = time.monotonic,
        markets: Markets | None = None,
    ) -> None:
        self.limits = limits
        self._localize = Localizer(markets if markets is not None else single_market())
        self._metrics = metrics
        rules = [
            *specified_rules,
            max_depth_rule(limits.max_depth),
            max_aliases_rule(limits.max_aliases),
            MaxTypeWrappingRule,
        ]
        if not limits.introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        self._documents = PreparedDocuments(
            schema, rules, limits.max_tokens, self._hide_suggestions, plans
        )
        self.persisted = PersistedOperations(
            trusted_documents, limits.persisted_query_bytes, self._valid
        )
        masking = ErrorMasking(metrics)
        admission = Admission(metrics, budgets, clock)
        settlement = Settlement(self._documents.costs, limits.max_cost, budgets, clock)
        executor = Executor(schema, limits, masking)
        # The parts' own methods are the policy's: one object for every transport.
        self.masked = masking.masked
        self.admit = admission.admit
        self.actual_cost = settlement.actual_cost
        self.cost_extension = settlement.cost_extension
        self.settle = settlement.settle
        self.result_extensions = settlement.result_extensions
        self.execute = executor.execute
        self.execute_event = executor.execute_event

    def introspection_refusal(self) -> str | None:
        """Why this schema's full introspection query would be refused under these
        limits, or ``None`` when it runs: with introspection on, a refusal is a
        misconfiguration to name at start, not an error every tool meets later."""
        try:  # The text itself: a trusted-documents list refuses it before any limit.
            self._checked(FULL_INTROSPECTION, None, None, None)
        except OperationRefused as refusal:
            return "; ".join(error.message for error in refusal.errors)
        return None

    def _valid(self, query: str) -> bool:
        prepared = self._documents.prepare(query)
        return prepared.document is not None and not prepared.errors

    @property
    def _hide_suggestions(self) -> bool:
        # Suggestions ("Did you mean ...?") would reveal the schema introspection hides.
        return not self.limits.introspection

    def resolve(self, query: Any, extensions: Any) -> tuple[str, str | None]:
        """The text of the operation a request names, and its persisted id if any.

        Raises:
            OperationRefused: An unknown or untrusted persisted operation, or no text.
        """
        try:
            text = self.persisted.resolve(query, extensions)
        except PersistedRefusal as refusal:
            self._metrics.errors.labels(refusal.code).inc()
            raise OperationRefused(refusal.graphql_errors(), refusal.code) from None
        return text.query, text.persisted_id

    def check(
        self,
        query: Any,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        extensions: Any = None,
    ) -> Operation:
        """Everything that can be checked before running, the persisted operation a
        request names by ``extensions.persistedQuery`` resolved first.

        Raises:
            OperationRefused: With the client's errors and a code.
        """
        text, persisted_id = self.resolve(query, extensions)
        return self._checked(text, persisted_id, variables, operation_name)

    def _checked(
        self,
        query: str,
        persisted_id: str | None,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> Operation:
        prepared = self._documents.prepare(query)
        if prepared.document is None:
            raise self.refuse(prepared.errors, "GRAPHQL_PARSE_FAILED")
        if prepared.errors:
            raise self.refuse(prepared.errors, "GRAPHQL_VALIDATION_FAILED")
        definition = get_operation_ast(prepared.document, operation_name)
        if definition is None:
            error = GraphQLError("Operation not found or ambiguous; give operationName.")
            raise self.refuse([error], "BAD_REQUEST")
        cost = self._documents.cost(prepared, definition, operation_name, variables)
        if cost > self.limits.max_cost:
            error = GraphQLError(
                f"The query's estimated cost is {cost}; the limit is {self.limits.max_cost}.",
                extensions={"cost": cost, "limit": self.limits.max_cost},
            )
            raise self.refuse([error], "QUERY_TOO_COSTLY")
        return Operation(
            prepared.document,
            definition,
            variables,
            operation_name,
            cost,
            prepared.digest,
            persisted_id,
            self._documents.plan(prepared, definition, operation_name),
            fragments=prepared.fragments,
            counted=prepared.counted.setdefault(operation_name, {}),
            localization=self._localize(definition, variables),
        )

    def refuse(self, errors: list[GraphQLError], code: str) -> OperationRefused:
        """A refusal with ``code`` on every error, counted."""
        return counted_refusal(self._metrics, errors, code)
