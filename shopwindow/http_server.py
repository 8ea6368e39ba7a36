"""Serving an ASGI app with uvicorn inside an already running event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from typing import Any

import uvicorn

from shopwindow.request_bounds import DEFAULT_BOUNDS, Refused, RequestBounds, bounded_protocol

# Requests still open this long after stop() are cancelled, and the app's shutdown runs:
# under Kubernetes' default 30 s grace period, so a hung request never turns a rolling
# update into a SIGKILL that skips the shutdown.
SHUTDOWN_TIMEOUT_S = 20


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The CLI owns SIGINT/SIGTERM and stops every component in order; uvicorn's own
        # handlers would re-raise the signal after the first server stopped.
        yield


class HttpServer:
    """One uvicorn server with an explicit ``start()``/``stop()``.

    Args:
        app: The ASGI application.
        host: Interface to bind.
        port: Port to bind; 0 picks a free one (see ``port`` after start).
        shutdown_timeout_s: How long ``stop()`` lets open requests finish before it
            cancels them.
        bounds: What a request may send before the app sees it (``request_bounds``).
        refused: Called with the reason of each connection those bounds close.
        **config: Further ``uvicorn.Config`` options.
    """

    def __init__(
        self,
        app: Any,
        host: str,
        port: int,
        shutdown_timeout_s: int = SHUTDOWN_TIMEOUT_S,
        bounds: RequestBounds = DEFAULT_BOUNDS,
        refused: Refused | None = None,
        **config: Any,
    ) -> None:
        config.setdefault("log_config", None)
        config["http"] = bounded_protocol(bounds, refused)
        config["timeout_graceful_shutdown"] = shutdown_timeout_s
        config.setdefault("access_log", False)
        self._app = app
        self._server = _Server(uvicorn.Config(app, host=host, port=port, **config))
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The bound port, once started."""
        for server in getattr(self._server, "servers", []):
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self._server.config.port

    async def start(self) -> None:
        """Bind and serve; returns once the server accepts connections.

        Raises:
            RuntimeError: When the server could not start (port taken, app failed).
            Exception: What the app's lifespan left in ``app.state.startup_error``
                (a Starlette app names why it failed to start that way).
        """
        config = self._server.config
        address = f"{config.host}:{config.port}"
        sock = socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((config.host, config.port))
        except OSError as error:
            sock.close()
            raise RuntimeError(f"cannot listen on {address}: {error.strerror}") from None
        serving = self._task = asyncio.create_task(self._serve(sock))
        while not self._server.started:
            if serving.done():
                self._task = None  # Nothing is left for stop() to do.
                serving.result()
            await asyncio.sleep(0.02)

    async def _serve(self, sock: socket.socket) -> None:
        try:
            await self._server.serve(sockets=[sock])
        except SystemExit:
            # uvicorn exits the interpreter when the app's startup fails; inside a task
            # that would bypass every cleanup, so it becomes an ordinary error.
            state = getattr(self._app, "state", None)
            reason = getattr(state, "startup_error", None)
            if isinstance(reason, Exception):
                raise reason from None
            raise RuntimeError("HTTP application failed to start") from None
        finally:
            sock.close()

    async def stop(self) -> None:
        """Stop accepting, finish open requests (cancelling those still open after the
        shutdown timeout), run the app's shutdown."""
        if self._task is None:
            return
        self._server.should_exit = True
        task, self._task = self._task, None
        with contextlib.suppress(RuntimeError):
            await task
