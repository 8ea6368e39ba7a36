"""``/graphql`` straight to its endpoint; every other path through the Starlette app.

Nearly every request and every WebSocket a gateway takes is for ``/graphql``. Through
Starlette they pass its error and exception middleware and its router: on a POSTed
query answered from kept bytes that was about a tenth of the request's time, and on
a WebSocket each layer's frame stays alive for the connection's whole life (about
5 KiB per connection, measured with tracemalloc at 2,000 connections).

What those layers did for ``/graphql`` is done here or by the endpoint itself:

* routing: by the exact path, as the route matched it (``/graphql/`` is not
  redirected to it: no GraphQL client sends it, and a redirect is a round trip);
* methods: the endpoint answers any method but GET and POST with 405 and ``Allow``;
* an exception that escapes: the server (uvicorn) logs it and answers 500, as
  Starlette's error middleware would, with nothing of it in the body.

The lifespan, the probes, the metrics and the storefront go to the Starlette app, whose
``state`` is this app's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

PATH = "/graphql"


class FrontDoor:
    """The gateway's ASGI app.

    Args:
        app: Serves every other path, and the lifespan.
        http: Answers a GraphQL HTTP request (``GraphQLEndpoint.handle``).
        websocket: Serves a GraphQL WebSocket (``WebSocketGuard``).
        refused: Counts a connection the server's request bounds closed, by reason
            (``shopwindow.request_bounds``): the server calls it, the app counts.
    """

    def __init__(
        self,
        app: Starlette,
        http: Callable[[Request], Awaitable[Response]],
        websocket: ASGIApp,
        refused: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self._http = http
        self._websocket = websocket
        self.refused = refused

    @property
    def state(self) -> State:
        """The Starlette app's state (``startup_error`` names why a start failed)."""
        return self.app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        kind = scope["type"]
        if kind == "http" and scope["path"] == PATH:
            response = await self._http(Request(scope, receive))
            await response(scope, receive, send)
        elif kind == "websocket" and scope["path"] == PATH:
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)
