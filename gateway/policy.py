"""One GraphQL policy for every transport: HTTP and both WebSocket protocols.

Each operation, whatever carried it, goes through ``OperationPolicy``: the document is
parsed and validated once per query text (token, depth and alias limits, the
introspection switch, no field suggestions while introspection is off), its cost is
estimated and capped, it runs with a fresh context under one timeout, and every error
a resolver raised is masked the same way and logged with the operation's request id.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    execute,
    get_operation_ast,
    specified_rules,
    subscribe,
)
from graphql.validation import NoSchemaIntrospectionCustomRule

from shopwindow.gateway.budget import ClientBudgets, ThrottleStatus
from shopwindow.gateway.context import GatewayContext
from shopwindow.gateway.cost_actual import Collected
from shopwindow.gateway.errors import UserInputError
from shopwindow.gateway.ftv1 import FieldTracer
from shopwindow.gateway.limits import max_aliases_rule, max_depth_rule
from shopwindow.gateway.metrics import GatewayMetrics
from shopwindow.gateway.persisted import PersistedOperations, PersistedRefusal
from shopwindow.gateway.plan import ExecutionPlan
from shopwindow.gateway.prepared import PreparedDocuments

log = logging.getLogger(__name__)

RATE_LIMITED = "RATE_LIMITED"


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


class OperationRefused(Exception):
    """An operation that cannot run: unparsable, invalid, unknown or over a limit.

    Args:
        errors: What is wrong, for the client.
        code: The error code of the whole refusal.
    """

    def __init__(self, errors: list[GraphQLError], code: str) -> None:
        super().__init__(errors[0].message if errors else code)
        self.errors = errors
        self.code = code


class Throttled(OperationRefused):
    """An operation over its client's cost budget for now (``RATE_LIMITED``).

    Args:
        errors: What is wrong, for the client.
        retry_after_s: Whole seconds until its cost fits.
    """

    def __init__(self, errors: list[GraphQLError], retry_after_s: int) -> None:
        super().__init__(errors, RATE_LIMITED)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Operation:
    """An operation that passed every check, ready to run."""

    document: DocumentNode
    definition: OperationDefinitionNode
    variables: dict[str, Any] | None
    name: str | None
    cost: int
    persisted_id: str | None = None
    plan: ExecutionPlan | None = None
    throttle: ThrottleStatus | None = None
    client: str | None = None
    fragments: Mapping[str, FragmentDefinitionNode] = field(default_factory=dict)
    counted: Collected = field(default_factory=dict)


OperationContextFactory = Callable[..., GatewayContext]


class OperationPolicy:
    """Checks, runs and masks operations.

    Args:
        schema: The executable schema.
        limits: The limits of every operation.
        metrics: Where to count errors.
        trusted_documents: The only operations that may run, by id (trusted-documents
            mode); ``None`` runs any valid operation, with automatic persisted queries.
        plans: Run queries through execution plans (``gateway.plan``); graphql-core
            runs everything when off.
        budgets: Per-client cost budgets; ``None`` admits every checked operation.
        clock: Seconds, for the budgets.
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
    ) -> None:
        self._schema = schema
        self._budgets = budgets
        self._clock = clock
        self.limits = limits
        self._metrics = metrics
        rules = [
            *specified_rules,
            max_depth_rule(limits.max_depth),
            max_aliases_rule(limits.max_aliases),
        ]
        if not limits.introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        self._documents = PreparedDocuments(
            schema, rules, limits.max_tokens, self._hide_suggestions, plans
        )
        self.persisted = PersistedOperations(
            trusted_documents, limits.persisted_query_bytes, self._valid
        )

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
            raise OperationRefused([refusal.error], refusal.code) from None
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
        query, persisted_id = self.resolve(query, extensions)
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
            persisted_id,
            self._documents.plan(prepared, definition, operation_name),
            fragments=prepared.fragments,
            counted=prepared.counted.setdefault(operation_name, {}),
        )

    def admit(self, operation: Operation, client: str) -> Operation:
        """Spend ``operation``'s estimated cost from ``client``'s budget, on every
        transport alike.

        Args:
            operation: A checked operation.
            client: ``client_of`` the viewer and their address.

        Returns:
            The operation, with the client's budget after it (``throttle``).

        Raises:
            Throttled: When the cost does not fit in what the budget has left now.
            OperationRefused: When it exceeds even a full budget (``QUERY_TOO_COSTLY``).
        """
        if self._budgets is None:
            return operation
        admission = self._budgets.admit(client, operation.cost, self._clock())
        status = admission.status
        if admission.admitted:
            return replace(operation, throttle=status, client=client)
        cost = {"requestedQueryCost": operation.cost, "throttleStatus": status.as_extension()}
        if admission.never:
            error = GraphQLError(
                f"The query's estimated cost is {operation.cost}; a client's whole budget "
                f"is {status.maximum_available}.",
                extensions={"cost": cost},
            )
            raise self.refuse([error], "QUERY_TOO_COSTLY")
        self._metrics.errors.labels(RATE_LIMITED).inc()
        error = GraphQLError(
            f"Over this client's cost budget: the query costs {operation.cost}, "
            f"{status.currently_available} is available and {status.restore_rate} is "
            f"restored per second. Retry after {admission.retry_after_s} s.",
            extensions={
                "code": RATE_LIMITED,
                "retryAfter": admission.retry_after_s,
                "cost": cost,
            },
        )
        raise Throttled([error], admission.retry_after_s)

    def refuse(self, errors: list[GraphQLError], code: str) -> OperationRefused:
        """A refusal with ``code`` on every error, counted."""
        self._metrics.errors.labels(code).inc()
        return OperationRefused([_with_code(e, e.message, code) for e in errors], code)

    def actual_cost(self, operation: Operation, data: Any) -> int:
        """The cost of what ``operation`` returned (``data``), by the estimate's rules."""
        return self._documents.costs.actual(
            operation.definition, operation.fragments, data, operation.counted
        )

    def cost_extension(
        self,
        operation: Operation,
        actual: int | None = None,
        throttle: ThrottleStatus | None = None,
    ) -> dict[str, Any]:
        """What a result reports of the operation's cost: estimated, actual once it
        ran, and the client's budget (``throttle``, else as admission left it)."""
        cost: dict[str, Any] = {"requestedQueryCost": operation.cost}
        if actual is not None:
            cost["actualQueryCost"] = actual
        cost["maximumQueryCost"] = self.limits.max_cost
        throttle = throttle or operation.throttle
        if throttle is not None:
            cost["throttleStatus"] = throttle.as_extension()
        return {"cost": cost}

    def settle(self, operation: Operation, actual: int) -> dict[str, Any]:
        """The cost extension of a result whose actual cost is known. A query's or
        mutation's client gets back what its estimate exceeded that by: call this once
        per such result."""
        throttle = None
        if (
            self._budgets is not None
            and operation.client is not None
            and operation.definition.operation is not OperationType.SUBSCRIPTION
        ):
            throttle = self._budgets.refund(
                operation.client, operation.cost - actual, self._clock()
            )
        return self.cost_extension(operation, actual, throttle)

    def result_extensions(
        self, operation: Operation, context: GatewayContext, data: Any, actual: int | None = None
    ) -> dict[str, Any]:
        """What every executed result reports: its cost, estimated and actual (of
        ``data``, unless the caller counted it: ``actual``), settled with the client's
        budget, and how fresh its products are (``context.freshness`` starts afresh, for
        a subscription's next event)."""
        if actual is None:
            actual = self.actual_cost(operation, data)
        lag = context.live.lag() if context.live is not None else None
        extensions = {
            **self.settle(operation, actual),
            "freshness": context.freshness.report(lag),
        }
        if context.consistency_report is not None:
            extensions["consistency"] = context.consistency_report.as_extension()
        return extensions

    async def execute(
        self, operation: Operation, context: GatewayContext, tracer: FieldTracer | None = None
    ) -> ExecutionResult:
        """Run a query or mutation under the timeout, with its errors masked.

        Args:
            operation: A checked, admitted operation.
            context: The operation's fresh context.
            tracer: Times every field (federated tracing); graphql-core runs the
                operation then, an execution plan otherwise.

        Raises:
            TimeoutError: When it took longer than the timeout.
        """
        plan = operation.plan
        if tracer is not None:
            result = await self._start(execute, operation, context, middleware=[tracer])
            assert isinstance(result, ExecutionResult)
            return self.masked(result, context.request_id)
        if plan is not None:
            hide = self._hide_suggestions
            async with asyncio.timeout(self.limits.timeout_s):
                planned = plan.execute(context, operation.variables, hide)
                if not isinstance(planned, ExecutionResult):
                    planned = await planned
            return self.masked(planned, context.request_id)
        result = await self._start(execute, operation, context)
        assert isinstance(result, ExecutionResult)
        return self.masked(result, context.request_id)

    async def execute_event(
        self, operation: Operation, context: GatewayContext, root_value: Any
    ) -> ExecutionResult:
        """Run a subscription's selection for one event (``root_value``) under the
        timeout, with its errors masked: how the live fan-out executes a change.

        Raises:
            TimeoutError: When it took longer than the timeout.
        """
        result = await self._start(execute, operation, context, root_value)
        assert isinstance(result, ExecutionResult)
        return self.masked(result, context.request_id)

    async def subscribe(
        self, operation: Operation, context: GatewayContext
    ) -> AsyncIterator[ExecutionResult] | ExecutionResult:
        """Start a subscription under the timeout: a stream of masked results, or one
        result with the errors that kept it from starting."""
        source = await self._start(subscribe, operation, context)
        if isinstance(source, ExecutionResult):
            return self.masked(source, context.request_id)
        return self._masked_stream(source, context.request_id)

    async def _start(
        self,
        run: Callable[..., Any],
        operation: Operation,
        context: GatewayContext,
        root_value: Any = None,
        **options: Any,
    ) -> Any:
        async with asyncio.timeout(self.limits.timeout_s):
            result = run(
                self._schema,
                operation.document,
                root_value=root_value,
                context_value=context,
                variable_values=operation.variables,
                operation_name=operation.name,
                hide_suggestions=self._hide_suggestions,
                **options,
            )
            if inspect.isawaitable(result):
                result = await result
        return result

    async def _masked_stream(
        self, source: AsyncIterator[ExecutionResult], request_id: str
    ) -> AsyncIterator[ExecutionResult]:
        try:
            async for result in source:
                yield self.masked(result, request_id)
        except Exception as error:
            # The subscription's own generator failed (e.g. refused its arguments): the
            # stream ends with that error, masked like any other.
            located = GraphQLError(str(error), original_error=error)
            yield self.masked(ExecutionResult(None, [located]), request_id)
        finally:
            close = getattr(source, "aclose", None)
            if close is not None:
                await close()

    def masked(self, result: ExecutionResult, request_id: str) -> ExecutionResult:
        """``result`` with every error the client may not see replaced by a masked one."""
        if not result.errors:
            return result
        errors = [self._mask(error, request_id) for error in result.errors]
        return ExecutionResult(result.data, errors, result.extensions)

    def _mask(self, error: GraphQLError, request_id: str) -> GraphQLError:
        original = error.original_error
        if original is None or isinstance(original, GraphQLError):
            # Variable coercion and the like: about the request, not the server.
            self._metrics.errors.labels("BAD_USER_INPUT").inc()
            return _with_code(error, error.message, "BAD_USER_INPUT")
        if isinstance(original, UserInputError):
            self._metrics.errors.labels(original.code).inc()
            return _with_code(error, str(original), original.code)
        self._metrics.errors.labels("INTERNAL").inc()
        log.error(
            "resolver failed",
            exc_info=(type(original), original, original.__traceback__),
            extra={"request_id": request_id, "path": error.path},
        )
        return GraphQLError(
            "Internal server error",
            path=error.path,
            extensions={"code": "INTERNAL", "requestId": request_id},
        )


def _with_code(error: GraphQLError, message: str, default_code: str) -> GraphQLError:
    # A client-facing copy: the original exception stays behind, the code is set.
    extensions = error.extensions or {}
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={**extensions, "code": extensions.get("code", default_code)},
    )
