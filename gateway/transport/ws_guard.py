"""Checks on every WebSocket frame and bounds on every connection, for both protocols.

In front of Strawberry's protocol handlers, so that no frame reaches them that they
would choke on, and so that both protocols get the same hygiene:

* at most ``max_connections`` per process (close 1013);
* ``connection_init`` within a deadline (4408), and only once (4429);
* frames are JSON objects of a type the protocol knows, at most ``max_message_bytes``
  long, with a bounded operation id and a well-typed payload (else close 4400, or
  1009 for size), and nothing is logged as an error;
* connections without an operation for ``idle_timeout_s`` are closed (1001), and
  clients too slow to take a message within ``send_timeout_s`` are cut;
* an operation named by ``extensions.persistedQuery`` is resolved to its text before
  Strawberry sees it, and one that may not run (an APQ miss, an untrusted document) is
  answered with an ``error`` message for its id, as the HTTP endpoint answers it;
* a subscription to a live field is served by the fan-out (``live_operations``), not
  by Strawberry; an id already in use closes a graphql-transport-ws connection (4409).

The connection's state (``WebSocketConnection``: the viewer, the subscription count) is
made here and shared with Strawberry's handlers through the ASGI scope.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopwindow.gateway.execution.context import WebSocketConnection
from shopwindow.gateway.execution.operation import OperationRefused
from shopwindow.gateway.live.connection import LiveConnection, open_connection
from shopwindow.gateway.live.operations import LiveOperations

log = logging.getLogger(__name__)

# (query, extensions) as sent -> (the text to run, its persisted id); see OperationPolicy.
Resolve = Callable[[Any, Any], tuple[str, str | None]]

MAX_OPERATION_ID_CHARS = 128
# Where the connection's WebSocketConnection travels in the ASGI scope.
CONNECTION_SCOPE_KEY = "shopwindow.connection"

_TRY_AGAIN_LATER = 1013
_GOING_AWAY = 1001
_TOO_BIG = 1009
_BAD_MESSAGE = 4400
_INIT_TIMEOUT = 4408
_TOO_MANY_INITS = 4429
_DUPLICATE_ID = 4409


@dataclass(frozen=True, slots=True)
class _Protocol:
    incoming: frozenset[str]
    starts: str
    ends_in: str
    ends_out: frozenset[str]
    errors_as_list: bool


_PROTOCOLS = {
    "graphql-transport-ws": _Protocol(
        frozenset({"connection_init", "ping", "pong", "subscribe", "complete"}),
        "subscribe",
        "complete",
        frozenset({"complete", "error"}),
        errors_as_list=True,
    ),
    "graphql-ws": _Protocol(
        frozenset({"connection_init", "connection_terminate", "start", "stop"}),
        "start",
        "stop",
        frozenset({"complete", "error"}),
        errors_as_list=False,
    ),
}


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class _Answer:
    # Sent to the client in place of passing the frame on.
    text: str


class _Handled:
    # The frame was taken care of here (a live subscription started or stopped).
    pass


_HANDLED = _Handled()


@dataclass(frozen=True, slots=True)
class GuardLimits:
    """The bounds of every WebSocket connection."""

    max_connections: int
    idle_timeout_s: float
    send_timeout_s: float
    connection_init_timeout_s: float
    max_message_bytes: int


class WebSocketGuard:
    """Connection limits and frame checks in front of the WebSocket endpoint.

    Args:
        app: The WebSocket ASGI app.
        limits: The bounds.
        resolve: Resolves persisted operations, as for HTTP.
        live: Serves the live subscriptions; Strawberry serves all when ``None``.
    """

    def __init__(
        self,
        app: ASGIApp,
        limits: GuardLimits,
        resolve: Resolve,
        live: LiveOperations | None = None,
    ) -> None:
        self._app = app
        self.limits = limits
        self.resolve = resolve
        self.live = live
        self.connections = 0
        self._watched: set[_GuardedConnection] = set()
        self._watch: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.connections >= self.limits.max_connections:
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": _TRY_AGAIN_LATER})
            return
        connection = _GuardedConnection(self, scope, receive, send)
        self.connections += 1
        self._watched.add(connection)
        if self._watch is None or self._watch.done():
            self._watch = asyncio.create_task(self._watch_deadlines())
        try:
            await connection.run()
        finally:
            self.connections -= 1
            self._watched.discard(connection)
            if not self._watched and self._watch is not None:
                # The last connection went: nothing to watch until the next one comes.
                self._watch.cancel()
                self._watch = None

    async def _watch_deadlines(self) -> None:
        # One task for every connection of the process, not one each: a task per
        # connection cost memory (its coroutine, its sleep) and a wake-up per connection
        # per tick. Each tick closes the connections past a deadline.
        loop = asyncio.get_running_loop()
        limits = self.limits
        tick_s = min(1.0, limits.idle_timeout_s / 4, limits.connection_init_timeout_s)
        while True:
            await asyncio.sleep(tick_s)
            now = loop.time()
            for connection in list(self._watched):
                connection.check_deadlines(now)


class _GuardedConnection:
    # Slots: one of these lives as long as its connection, and a phone fleet holds
    # tens of thousands of them.
    __slots__ = (
        "__weakref__",
        "_acknowledged",
        "_closed",
        "_closing",
        "_guard",
        "_idle_since",
        "_initialised",
        "_limits",
        "_live",
        "_opened_at",
        "_operations",
        "_protocol",
        "_protocol_name",
        "_receive",
        "_scope",
        "_send",
        "_state",
    )

    def __init__(self, guard: WebSocketGuard, scope: Scope, receive: Receive, send: Send) -> None:
        self._guard = guard
        self._limits = guard.limits
        self._scope = scope
        self._receive = receive
        self._send = send
        self._protocol: _Protocol | None = None
        self._protocol_name = ""
        self._initialised = False
        self._acknowledged = False
        self._operations: set[str] = set()
        client = scope.get("client")
        self._state = WebSocketConnection(client=str(client[0]) if client else None)
        scope[CONNECTION_SCOPE_KEY] = self._state
        self._live: LiveConnection | None = None
        loop = asyncio.get_running_loop()
        self._opened_at = loop.time()
        self._idle_since = loop.time()
        # Set once the guard closed the connection; a future, not an Event, so that
        # waiting for it costs no task per connection.
        self._closed: asyncio.Future[None] = loop.create_future()
        # The close a deadline started, awaited before the connection ends.
        self._closing: asyncio.Future[None] | None = None

    async def run(self) -> None:
        try:
            await self._guard._app(self._scope, self._receive_guarded, self._send_guarded)
        finally:
            if self._live is not None:
                await self._live.close()
                # Its outbox sends through this guard: a cycle that would keep the whole
                # connection (protocol state, compression buffers) until a full
                # collection, which the gateway's collector tuning makes rare.
                self._live = None
            if self._closing is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._closing

    def check_deadlines(self, now: float) -> None:
        """Close the connection if it was not initialised in time, or idles too long."""
        if self._closing is not None:
            return
        limits = self._limits
        if not self._initialised and now - self._opened_at > limits.connection_init_timeout_s:
            self._closing = asyncio.ensure_future(
                self._close(_INIT_TIMEOUT, "Connection initialisation timeout")
            )
        elif not self._operations and now - self._idle_since > limits.idle_timeout_s:
            log.info("closing idle websocket")
            self._closing = asyncio.ensure_future(self._close(_GOING_AWAY, "Idle"))

    async def _close(self, code: int, reason: str) -> None:
        if self._closed.done():
            return
        self._closed.set_result(None)
        with contextlib.suppress(Exception):
            await self._send({"type": "websocket.close", "code": code, "reason": reason})

    def _mark_closed(self) -> None:
        if not self._closed.done():
            self._closed.set_result(None)

    async def _receive_guarded(self) -> Message:
        while True:
            receiving = asyncio.ensure_future(self._receive())
            racing: set[asyncio.Future[Any]] = {receiving, self._closed}
            done, _ = await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
            if receiving not in done:
                receiving.cancel()
                return {"type": "websocket.disconnect", "code": _GOING_AWAY}
            message = receiving.result()
            if message.get("type") != "websocket.receive" or self._protocol is None:
                return message
            verdict = self._check(message)
            if isinstance(verdict, _Handled):
                continue
            if isinstance(verdict, _Answer):
                await self._send_guarded({"type": "websocket.send", "text": verdict.text})
                continue
            if isinstance(verdict, _Close):
                await self._close(verdict.code, verdict.reason)
                return {"type": "websocket.disconnect", "code": verdict.code}
            return verdict

    def _check(self, message: Message) -> Message | _Close | _Answer | _Handled:
        assert self._protocol is not None
        text, data = message.get("text"), message.get("bytes")
        size = len(text) if isinstance(text, str) else len(data or b"")
        if size > self._limits.max_message_bytes:
            return _Close(
                _TOO_BIG, f"Messages are limited to {self._limits.max_message_bytes} bytes"
            )
        if not isinstance(text, str):
            return _Close(_BAD_MESSAGE, "WebSocket message type must be text")
        try:
            # orjson, as the HTTP endpoint parses bodies: it refuses lone surrogates and
            # NaN as the body parser does, so no transport lets through what another
            # refuses (a lone surrogate once reached the search as an INTERNAL error).
            frame = orjson.loads(text)
        except (ValueError, RecursionError):
            return _Close(_BAD_MESSAGE, "WebSocket message must be valid JSON")
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            return _Close(_BAD_MESSAGE, "WebSocket message must be an object with a type")
        kind = frame["type"]
        if kind not in self._protocol.incoming:
            return _Close(_BAD_MESSAGE, f"Unknown message type: {kind[:64]}")
        if kind == "connection_init":
            if self._initialised:
                return _Close(_TOO_MANY_INITS, "Too many initialisation requests")
            self._initialised = True
            return message
        if "id" in frame or kind in (self._protocol.starts, self._protocol.ends_in):
            operation_id = frame.get("id")
            if not isinstance(operation_id, str) or not 0 < len(operation_id) <= (
                MAX_OPERATION_ID_CHARS
            ):
                return _Close(_BAD_MESSAGE, "Operation ids are strings of 1 to 128 characters")
            if kind == self._protocol.starts:
                return self._start(message, frame, operation_id)
            if kind == self._protocol.ends_in:
                self._ended(operation_id)
                if self._live is not None and self._live.stop(operation_id):
                    return _HANDLED
        return message

    def _start(
        self, message: Message, frame: dict[str, Any], operation_id: str
    ) -> Message | _Close | _Answer | _Handled:
        assert self._protocol is not None
        payload = frame.get("payload")
        problem = _check_payload(payload)
        if problem is not None:
            return _Close(_BAD_MESSAGE, problem)
        assert isinstance(payload, dict)
        try:
            query, _ = self._guard.resolve(payload.get("query"), payload.get("extensions"))
        except OperationRefused as refused:
            errors = [e.formatted for e in refused.errors]
            answer = {
                "id": operation_id,
                "type": "error",
                "payload": errors if self._protocol.errors_as_list else errors[0],
            }
            return _Answer(json.dumps(answer))
        if operation_id in self._operations and self._protocol.errors_as_list:
            # graphql-transport-ws: an id in use is a protocol error.
            return _Close(_DUPLICATE_ID, f"Subscriber for {operation_id[:64]} already exists")
        live = self._live_connection()
        if live is not None:
            live.stop(operation_id, answer=False)  # graphql-ws: a new start replaces it.
            started = live.start(operation_id, query, payload)
            if isinstance(started, str):
                return _Answer(started)
            if started:
                self._operations.add(operation_id)
                return _HANDLED
        self._operations.add(operation_id)
        if query == payload.get("query"):
            return message
        # Strawberry's handlers need the text: hand them the resolved operation.
        payload["query"] = query
        return {**message, "text": json.dumps(frame)}

    def _live_connection(self) -> LiveConnection | None:
        # Before the acknowledgement Strawberry answers (4401), as for any operation.
        live = self._guard.live
        if self._live is None and live is not None and self._acknowledged:
            self._live = open_connection(live, self._protocol_name, self._send_text, self._state)
        return self._live

    async def _send_text(self, text: str) -> None:
        await self._send_guarded({"type": "websocket.send", "text": text})

    def _ended(self, operation_id: str) -> None:
        self._operations.discard(operation_id)
        if not self._operations:
            self._idle_since = asyncio.get_running_loop().time()

    async def _send_guarded(self, message: Message) -> None:
        if self._closed.done():
            return
        if message.get("type") == "websocket.accept":
            self._protocol_name = message.get("subprotocol") or ""
            self._protocol = _PROTOCOLS.get(self._protocol_name)
        elif self._protocol is not None and isinstance(message.get("text"), str):
            self._track_outgoing(message["text"])
        try:
            # asyncio.timeout, unlike wait_for, needs no task per message.
            async with asyncio.timeout(self._limits.send_timeout_s):
                await self._send(message)
        except TimeoutError:
            log.info("cutting a websocket client too slow to read")
            self._mark_closed()
        except OSError:
            # The client went away (uvicorn's ClientDisconnected); what was still to be
            # sent, such as a final "complete", has no one to go to.
            self._mark_closed()

    def _track_outgoing(self, text: str) -> None:
        assert self._protocol is not None
        if not self._acknowledged and "connection_ack" in text:
            self._acknowledged = True
        # Only the frames that end an operation matter; skip parsing the rest.
        if "complete" not in text and "error" not in text:
            return
        with contextlib.suppress(ValueError):
            frame = json.loads(text)
            if frame.get("type") in self._protocol.ends_out and isinstance(frame.get("id"), str):
                self._ended(frame["id"])


def _check_payload(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return "The payload must be an object"
    extensions = payload.get("extensions")
    persisted = isinstance(extensions, dict) and "persistedQuery" in extensions
    # A persisted operation may come without its text (resolved before Strawberry).
    if not isinstance(payload.get("query"), str) and not (
        persisted and payload.get("query") is None
    ):
        return "The payload's query must be a string"
    if not isinstance(payload.get("variables"), dict | None):
        return "The payload's variables must be an object"
    if not isinstance(payload.get("operationName"), str | None):
        return "The payload's operationName must be a string"
    if not isinstance(payload.get("extensions"), dict | None):
        return "The payload's extensions must be an object"
    return None
