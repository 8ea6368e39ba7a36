"""GraphQL over WebSocket: both subscription protocols, viewers' tokens, and limits.

Strawberry speaks ``graphql-transport-ws`` (the graphql-ws library's protocol) and the
legacy ``graphql-ws`` (subscriptions-transport-ws). Every operation either protocol
carries runs through ``WebSocketOperations``, on the same ``OperationPolicy`` as HTTP,
with a fresh context per operation. ``WebSocketGuard`` in front (``ws_guard``) checks
every frame and bounds every connection.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from datetime import timedelta
from typing import Any

from graphql import GraphQLError, OperationType
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.types.unset import UnsetType

from shopwindow.gateway.execution.auth import AuthenticationError, TokenVerifier
from shopwindow.gateway.execution.context import (
    ContextFactory,
    WebSocketConnection,
    new_request_id,
)
from shopwindow.gateway.execution.operation import OperationRefused
from shopwindow.gateway.execution.policy import OperationPolicy
from shopwindow.gateway.transport.ws_guard import CONNECTION_SCOPE_KEY, WebSocketGuard

__all__ = ["LiveEndpoint", "WebSocketGuard", "WebSocketOperations"]

_TIMEOUT = GraphQLError("The request took too long.", extensions={"code": "TIMEOUT"})


class WebSocketOperations:
    """Runs the operations of both WebSocket protocols through the shared policy.

    Args:
        policy: Checks, runs and masks operations, as for HTTP.
        context_factory: Builds a fresh context for each operation.
    """

    def __init__(self, policy: OperationPolicy, context_factory: ContextFactory) -> None:
        self._policy = policy
        self._context_factory = context_factory

    async def stream(
        self,
        query: Any,
        variables: Any,
        operation_name: Any,
        connection: Any,
        allowed: Iterable[Any] | None,
    ) -> AsyncGenerator[ExecutionResult, None]:
        """The results of one operation, as Strawberry's protocol handlers send them."""
        if not isinstance(connection, WebSocketConnection):
            raise TypeError("the connection context must be a WebSocketConnection")
        try:
            operation = self._policy.check(query, variables, operation_name)
        except OperationRefused as refused:
            yield PreExecutionError(data=None, errors=refused.graphql_errors())
            return
        kind = operation.definition.operation
        # Strawberry names operation types with its own enum; the values are shared.
        if allowed is not None and kind.value not in {str(t.value) for t in allowed}:
            yield _bad_request(f"This protocol carries only subscriptions, not a {kind.value}.")
            return
        if kind is OperationType.SUBSCRIPTION:
            # Every subscription field is live: the guard hands each to the fan-out
            # (``live.operations``) before Strawberry sees it, so one that arrives here
            # names no field the fan-out serves.
            yield _bad_request("Subscriptions are served only for the live fields.")
            return
        try:
            operation = self._policy.admit(operation, connection.budget_key)
        except OperationRefused as refused:
            yield PreExecutionError(data=None, errors=refused.graphql_errors())
            return
        context = self._context_factory(connection.viewer, new_request_id(), connection)
        extensions = self._policy.cost_extension(operation)
        try:
            done = await self._policy.execute(operation, context)
        except TimeoutError:
            yield ExecutionResult(data=None, errors=[_TIMEOUT], extensions=extensions)
            return
        extensions = self._policy.result_extensions(operation, context, done.data)
        yield ExecutionResult(data=done.data, errors=done.errors, extensions=extensions)


def _bad_request(message: str) -> PreExecutionError:
    error = GraphQLError(message, extensions={"code": "BAD_REQUEST"})
    return PreExecutionError(data=None, errors=[error])


class LiveEndpoint(GraphQL[Any, None]):
    """Strawberry's WebSocket protocol handling with our connection state and token check.

    Args:
        schema: The schema, whose ``stream`` runs through ``WebSocketOperations``.
        verifier: Checks the token in the ``connection_init`` payload.
        keepalive_interval_s: Legacy protocol's keep-alive; graphql-transport-ws clients
            ping and get a pong.
        connection_init_timeout_s: How long a client may take to send
            ``connection_init``.
    """

    def __init__(
        self,
        schema: Any,
        verifier: TokenVerifier,
        keepalive_interval_s: float,
        connection_init_timeout_s: float,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            allow_queries_via_get=False,
            keep_alive=True,
            keep_alive_interval=keepalive_interval_s,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
            connection_init_wait_timeout=timedelta(seconds=connection_init_timeout_s),
        )
        self._verifier = verifier

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> WebSocketConnection:
        # Per connection, made by the guard; each operation gets a fresh GatewayContext
        # built from it.
        state = request.scope.get(CONNECTION_SCOPE_KEY)
        return state if isinstance(state, WebSocketConnection) else WebSocketConnection()

    async def on_ws_connect(self, context: Any) -> UnsetType | dict[str, object] | None:
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        authorization = params.get("Authorization") or params.get("authorization")
        if authorization is None and isinstance(params.get("token"), str):
            authorization = f"Bearer {params['token']}"
        try:
            context.viewer = self._verifier.viewer(
                authorization if isinstance(authorization, str) else None
            )
        except AuthenticationError as error:
            raise ConnectionRejectionError(
                {"message": str(error), "code": "UNAUTHENTICATED"}
            ) from None
        return None
