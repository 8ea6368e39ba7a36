"""Running a checked, admitted operation under the timeout, its errors masked.

An execution plan runs a query when the document has one (``plan``); graphql-core runs
everything else, and every traced operation (federated tracing times every field).

Named workaround for graphql-core 3.3: its executor hands resolvers helpers that are
its own bound methods, a reference cycle that outlives every execution as garbage only
a full collection frees. With the collector tuned for long-lived objects
(``shopwindow.gc_tuning``) that is almost never: a gateway serving live updates grew
about 27 MiB/h in ``make soak``. ``AcyclicExecutor`` gives the helpers a weak
reference instead, so an execution is freed when its last reference goes.
"""

from __future__ import annotations

import asyncio
import inspect
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from graphql import ExecutionResult, GraphQLSchema, execute
from graphql.execution.incremental.incremental_executor import IncrementalExecutor
from graphql.pyutils import gather_with_cancel
from graphql.type.definition import GraphQLResolveInfoHelpers

from shopwindow.gateway.execution.context import GatewayContext
from shopwindow.gateway.execution.limits import Limits
from shopwindow.gateway.execution.masking import ErrorMasking
from shopwindow.gateway.execution.operation import Operation

if TYPE_CHECKING:
    from shopwindow.gateway.federation.ftv1 import FieldTracer


class AcyclicExecutor(IncrementalExecutor):
    """graphql-core's executor, with resolver helpers that do not keep it alive."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        executor = weakref.ref(self)

        def track(values: Sequence[Any]) -> None:
            alive = executor()
            if alive is not None:  # Always, while its resolvers run.
                alive.track_async_work(values)

        def gather(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
            return gather_with_cancel(*values)

        self.async_helpers = GraphQLResolveInfoHelpers(gather=gather, track=track)


class Executor:
    """Runs operations of one schema.

    Args:
        schema: The executable schema.
        limits: The limits (the timeout; suggestions are hidden while introspection is).
        masking: Masks every result's errors.
    """

    def __init__(self, schema: GraphQLSchema, limits: Limits, masking: ErrorMasking) -> None:
        self._schema = schema
        self.limits = limits
        self._masking = masking

    @property
    def _hide_suggestions(self) -> bool:
        # Suggestions ("Did you mean ...?") would reveal the schema introspection hides.
        return not self.limits.introspection

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
        context.localization = operation.localization
        plan = operation.plan
        if tracer is not None:
            result = await self._start(execute, operation, context, middleware=[tracer])
            assert isinstance(result, ExecutionResult)
            return self._masking.masked(result, context.request_id)
        if plan is not None:
            hide = self._hide_suggestions
            async with asyncio.timeout(self.limits.timeout_s):
                planned = plan.execute(context, operation.variables, hide)
                if not isinstance(planned, ExecutionResult):
                    planned = await planned
            return self._masking.masked(planned, context.request_id)
        result = await self._start(execute, operation, context)
        assert isinstance(result, ExecutionResult)
        return self._masking.masked(result, context.request_id)

    async def execute_event(
        self, operation: Operation, context: GatewayContext, root_value: Any
    ) -> ExecutionResult:
        """Run a subscription's selection for one event (``root_value``) under the
        timeout, with its errors masked: how the live fan-out executes a change.

        Raises:
            TimeoutError: When it took longer than the timeout.
        """
        context.localization = operation.localization
        result = await self._start(execute, operation, context, root_value)
        assert isinstance(result, ExecutionResult)
        return self._masking.masked(result, context.request_id)

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
                executor_class=AcyclicExecutor,
                **options,
            )
            if inspect.isawaitable(result):
                result = await result
        return result
