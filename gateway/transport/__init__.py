"""A request or a frame arrives: GraphQL over HTTP and over WebSocket.

Responsible for the wire: reading a request's parameters (``http_params``), answering
persisted GETs with HTTP caching (``http_caching``) and kept bytes (``response_cache``),
and, on WebSocket, bounding every connection and checking every frame of both
protocols (``ws_guard``, ``websocket``). Every operation a transport reads goes to the
one policy of ``execution``; every refusal it answers is a ``GatewayError`` mapped to
the wire in one place per transport.
"""

__all__ = [
    "front_door",
    "graphql_http",
    "http_caching",
    "response_cache",
    "websocket",
    "ws_guard",
]
