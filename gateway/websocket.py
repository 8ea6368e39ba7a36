"""GraphQL over WebSocket: both subscription protocols, viewers' tokens, and limits.

Strawberry speaks ``graphql-transport-ws`` (the graphql-ws library's protocol) and the
legacy ``graphql-ws`` (subscriptions-transport-ws). ``WebSocketGuard`` in front of it
caps connections per process, closes connections idle without subscriptions, and cuts
clients too slow to take their messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from gateway.auth import AuthenticationError, TokenVerifier

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_TRY_AGAIN_LATER = 1013
_GOING_AWAY = 1001
_STARTS = {"subscribe", "start"}
_ENDS = {"complete", "stop", "error"}


class LiveEndpoint(GraphQL[Any, None]):
    """Strawberry's WebSocket handling with our context and token check.

    Args:
        schema: The strawberry schema (with ``Subscription``).
        verifier: Checks the token in the ``connection_init`` payload.
        context_factory: Builds the per-connection context.
        keepalive_interval_s: Legacy protocol's keep-alive; graphql-transport-ws clients
            ping and get a pong.
    """

    def __init__(
        self,
        schema: Any,
        verifier: TokenVerifier,
        context_factory: Callable[[], Any],
        keepalive_interval_s: float,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            allow_queries_via_get=False,
            keep_alive=True,
            keep_alive_interval=keepalive_interval_s,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
            connection_init_wait_timeout=timedelta(seconds=10),
        )
        self._verifier = verifier
        self._context_factory = context_factory

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Any:
        return self._context_factory()

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


class WebSocketGuard:
    """Connection limits in front of the WebSocket endpoint.

    Args:
        app: The WebSocket ASGI app.
        max_connections: Open connections per process.
        idle_timeout_s: How long a connection may have no active operation.
        send_timeout_s: How long one message may take to reach the client.
    """

    def __init__(
        self, app: ASGIApp, max_connections: int, idle_timeout_s: float, send_timeout_s: float
    ) -> None:
        self._app = app
        self._max_connections = max_connections
        self._idle_timeout_s = idle_timeout_s
        self._send_timeout_s = send_timeout_s
        self.connections = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.connections >= self._max_connections:
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": _TRY_AGAIN_LATER})
            return
        self.connections += 1
        try:
            await _GuardedConnection(self, scope, receive, send).run()
        finally:
            self.connections -= 1


class _GuardedConnection:
    def __init__(self, guard: WebSocketGuard, scope: Scope, receive: Receive, send: Send) -> None:
        self._guard = guard
        self._scope = scope
        self._receive = receive
        self._send = send
        self._operations: set[str] = set()
        self._idle_since = asyncio.get_running_loop().time()
        self._evicted = asyncio.Event()

    async def run(self) -> None:
        watchdog = asyncio.create_task(self._watch_idle())
        try:
            await self._guard._app(self._scope, self._receive_guarded, self._send_guarded)
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    async def _watch_idle(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, self._guard._idle_timeout_s / 4))
            if (
                not self._operations
                and loop.time() - self._idle_since > self._guard._idle_timeout_s
            ):
                log.info("closing idle websocket")
                self._evicted.set()
                return

    async def _receive_guarded(self) -> Message:
        receiving = asyncio.ensure_future(self._receive())
        evicted = asyncio.ensure_future(self._evicted.wait())
        done, _ = await asyncio.wait({receiving, evicted}, return_when=asyncio.FIRST_COMPLETED)
        if receiving in done:
            evicted.cancel()
            message = receiving.result()
            self._track(message.get("text"), incoming=True)
            return message
        receiving.cancel()
        with contextlib.suppress(Exception):
            await self._send({"type": "websocket.close", "code": _GOING_AWAY})
        return {"type": "websocket.disconnect", "code": _GOING_AWAY}

    async def _send_guarded(self, message: Message) -> None:
        if self._evicted.is_set():
            return
        self._track(message.get("text"), incoming=False)
        try:
            # asyncio.timeout, unlike wait_for, needs no task per message.
            async with asyncio.timeout(self._guard._send_timeout_s):
                await self._send(message)
        except TimeoutError:
            log.info("cutting a websocket client too slow to read")
            self._evicted.set()

    def _track(self, text: Any, *, incoming: bool) -> None:
        if not isinstance(text, str) or len(text) > 65536:
            return
        try:
            frame = json.loads(text)
        except ValueError:
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("id"), str):
            return
        kind = frame.get("type")
        if incoming and kind in _STARTS:
            self._operations.add(frame["id"])
        elif kind in _ENDS:
            self._operations.discard(frame["id"])
            if not self._operations:
                self._idle_since = asyncio.get_running_loop().time()
