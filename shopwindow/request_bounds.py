"""What a client may send before the app sees its request: how many bytes of head, and
how long its head and its body may take to arrive.

uvicorn's httptools parser keeps every header byte that arrives (a 50 MB header is
read whole, and its pieces are joined again and again), and no timer runs while a
request's head or body trickles in: uvicorn's keep-alive timer runs only between
requests. ``BoundedHttpProtocol`` is uvicorn's httptools protocol with three bounds:

* **The head** (request line and headers) is at most ``max_head_bytes``. Past it the
  client gets ``431`` and the connection closes; the parser never holds more.
* **The head arrives** within ``head_timeout_s`` of its first byte, or of the
  connection for one that sends nothing. Else ``408`` and the connection closes; one
  that sent nothing is just closed (``IDLE``).
* **The body arrives** within ``body_timeout_s`` of the head. Else ``408``, unless the
  app has begun its answer, and the connection closes; the app sees the client go.

After a refusal the connection *lingers*, as nginx's does: the server shuts its side
and discards what still arrives for at most ``LINGER_S`` or ``LINGER_BYTES``. Closed at
once, a socket with unread bytes resets, and a client still sending would lose the
status before reading it. Nothing it sends then is kept.

The WebSocket handshake is a request head like any other; once upgraded, the WebSocket
protocol's own bounds apply. Each refusal is reported by its reason (``REASONS``).

The head is counted per read: a head that shares a read with the end of the request
before it (pipelining) may hold that read's bytes more, at most one read (256 KiB).
"""

from __future__ import annotations

import asyncio
import functools
import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

# Why a connection was refused, as the metric labels it.
HEAD_TOO_LARGE = "head_too_large"
HEAD_TIMEOUT = "head_timeout"
BODY_TIMEOUT = "body_timeout"
# A connection that sent nothing within the head's timeout: a browser's speculative
# connection as often as a client holding sockets.
IDLE = "idle"
REASONS = (HEAD_TOO_LARGE, HEAD_TIMEOUT, BODY_TIMEOUT, IDLE)

Refused = Callable[[str], None]

# How long, and for how many bytes, a refused connection is read and discarded before
# it closes: enough for a client to finish a write and read its status.
LINGER_S = 1.0
LINGER_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RequestBounds:
    """What one request may send before its app answers.

    Attributes:
        max_head_bytes: The request line and headers, in bytes (nginx and Node.js allow
            8-16 KiB; a signed viewer token is a few hundred bytes).
        head_timeout_s: How long a request's head may take to arrive.
        body_timeout_s: How long its body may take after the head.
    """

    max_head_bytes: int = 16 * 1024
    head_timeout_s: float = 10.0
    body_timeout_s: float = 10.0


# What every server of ours applies unless told otherwise.
DEFAULT_BOUNDS = RequestBounds()


def bounded_protocol(bounds: RequestBounds, refused: Refused | None = None) -> Any:
    """uvicorn's ``http`` option: the httptools protocol within ``bounds``.

    Args:
        bounds: The bounds of every request.
        refused: Called with the reason (one of ``REASONS``) of each refusal.
    """
    return functools.partial(BoundedHttpProtocol, bounds=bounds, refused=refused)


def _ignore(reason: str) -> None:
    del reason


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol within ``RequestBounds`` (see the module); uvicorn
    can load it by name (``--http shopwindow.request_bounds:BoundedHttpProtocol``),
    with ``DEFAULT_BOUNDS``.

    A deadline is a time on the connection, not a timer: one sweep per server checks
    every connection's (``_sweep``), so a request arms and clears its deadlines with
    two clock reads instead of creating and cancelling two timers.
    """

    def __init__(
        self,
        *args: Any,
        bounds: RequestBounds = DEFAULT_BOUNDS,
        refused: Refused | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._bounds = bounds
        self._refused = refused or _ignore
        self._reading_head = True
        self._head_bytes = 0
        self._heard = False  # Any byte on this connection yet.
        self._deadline_at = _NEVER  # On the loop's clock.
        self._deadline_reason = HEAD_TIMEOUT
        self._discarded: int | None = None  # Bytes dropped since a refusal, if refused.
        self._closing: asyncio.TimerHandle | None = None  # The end of a linger.

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self._bounds.head_timeout_s, HEAD_TIMEOUT)
        _watch(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline_at = _NEVER
        if self._closing is not None:
            self._closing.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._heard = True
        if self._discarded is not None:
            self._discarded += len(data)
            if self._discarded > LINGER_BYTES:
                self.transport.close()
            return
        if self._reading_head:
            if len(data) > self._bounds.max_head_bytes - self._head_bytes:
                self._received_past_room(data)
                return
            if self._deadline_at == _NEVER:  # The first byte of the next request's head.
                self._arm(self._bounds.head_timeout_s, HEAD_TIMEOUT)
            self._head_bytes += len(data)
        super().data_received(data)

    def _received_past_room(self, data: bytes) -> None:
        # A read longer than the head may still hold: fed a piece at a time, no more
        # than the head's room while it is read (the parser keeps it all).
        while data:
            if self._reading_head:
                if self._deadline_at == _NEVER:
                    self._arm(self._bounds.head_timeout_s, HEAD_TIMEOUT)
                room = self._bounds.max_head_bytes - self._head_bytes
                if room <= 0:
                    self._refuse(431, HEAD_TOO_LARGE)
                    return
                piece, data = data[:room], data[room:]
                self._head_bytes += len(piece)
            else:
                piece, data = data, b""
            super().data_received(piece)
            if (
                self._discarded is not None
                or self.transport.is_closing()
                or self.transport.get_protocol() is not self
            ):
                return

    def on_headers_complete(self) -> None:
        self._reading_head = False
        super().on_headers_complete()
        self._arm(self._bounds.body_timeout_s, BODY_TIMEOUT)

    def on_message_complete(self) -> None:
        self._deadline_at = _NEVER
        self._reading_head = True
        self._head_bytes = 0
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._deadline_at = _NEVER  # The WebSocket protocol bounds it from here on.
        super().handle_websocket_upgrade()

    def _arm(self, timeout_s: float, reason: str) -> None:
        self._deadline_at = self.loop.time() + timeout_s
        self._deadline_reason = reason

    def _expired(self) -> None:
        self._deadline_at = _NEVER
        if not self._heard:  # Nothing was asked: nothing to answer.
            self._refused(IDLE)
            self.transport.close()
            return
        self._refuse(408, self._deadline_reason)

    def _refuse(self, status: int, reason: str) -> None:
        self._deadline_at = _NEVER
        self._refused(reason)
        if self.transport.is_closing():
            return
        cycle = self.cycle
        # The request the app is answering: a body refusal's own, or for a head refusal
        # the one before (still answering it while the next head arrives).
        answering = cycle is not None and not cycle.response_complete
        if reason == BODY_TIMEOUT:
            # No status once any response bytes went out, its own or after it.
            say = cycle is not None and not cycle.response_started
        else:
            say = not answering  # Never inside another response's bytes.
        if say:
            self.transport.write(
                b"".join(
                    [
                        STATUS_LINE[status],
                        *(b"%s: %s\r\n" % pair for pair in self.server_state.default_headers),
                        b"content-length: 0\r\nconnection: close\r\n\r\n",
                    ]
                )
            )
        if answering:
            # The app's next receive() is the client's disconnect; what it sends is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        self._linger()

    def _linger(self) -> None:
        self._discarded = 0
        self.flow.resume_reading()  # Reading may be paused under a large body.
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._closing = self.loop.call_later(LINGER_S, self.transport.close)


_NEVER = math.inf
# The sweep of each server's connections (its ``ServerState``), while it has any.
_SWEEPS: weakref.WeakKeyDictionary[Any, asyncio.Task[None]] = weakref.WeakKeyDictionary()


def _watch(connection: BoundedHttpProtocol) -> None:
    """Start the sweep of the connection's server, unless one runs."""
    sweep = _SWEEPS.get(connection.server_state)
    if sweep is None or sweep.done():
        bounds = connection._bounds
        # A deadline is noticed within a quarter of the shorter timeout, or a second.
        interval_s = min(1.0, bounds.head_timeout_s / 4, bounds.body_timeout_s / 4)
        _SWEEPS[connection.server_state] = connection.loop.create_task(
            _sweep(connection.connections, interval_s)
        )


async def _sweep(connections: set[Any], interval_s: float) -> None:
    """Refuse every connection whose deadline passed, each ``interval_s``, until the
    server has no connection left (the next one starts a sweep again)."""
    loop = asyncio.get_running_loop()
    while connections:
        await asyncio.sleep(interval_s)
        now = loop.time()
        for connection in [c for c in connections if getattr(c, "_deadline_at", _NEVER) <= now]:
            connection._expired()
