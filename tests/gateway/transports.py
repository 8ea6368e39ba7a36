"""One way to send an operation over each transport, for the suites that must hold on all.

Each transport returns the first payload the gateway answers with, as a dict with
``errors`` and/or ``data``: the HTTP body, or the first ``next``/``data``/``error``
frame of a WebSocket operation, sent by a plain ``websockets`` client.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Protocol

import httpx
from websockets.asyncio.client import connect

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"


class Transport(Protocol):
    name: str

    async def run(
        self,
        http: httpx.AsyncClient,
        document: str | None,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> dict[str, Any]: ...


class Http:
    name = "http"

    async def run(
        self,
        http: httpx.AsyncClient,
        document: str | None,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        response = await http.post(
            "/graphql", json=_payload(document, variables, extensions), headers=headers
        )
        # A timeout is a 504 by design; any other 5xx is a crash that got through.
        assert response.status_code < 500 or response.status_code == 504, response.text
        body: dict[str, Any] = response.json()
        return body


class WebSocket:
    def __init__(self, protocol: str) -> None:
        self.name = protocol
        self._start = "subscribe" if protocol == TRANSPORT_WS else "start"

    async def run(
        self,
        http: httpx.AsyncClient,
        document: str | None,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        url = f"ws://127.0.0.1:{http.base_url.port}/graphql"
        async with (
            asyncio.timeout(20),
            connect(url, subprotocols=[self.name], open_timeout=10) as ws,  # type: ignore[list-item]
        ):
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            payload = _payload(document, variables, extensions)
            await ws.send(json.dumps({"type": self._start, "id": "1", "payload": payload}))
            while True:
                frame = json.loads(await ws.recv(decode=True))
                if frame.get("id") != "1":
                    continue  # connection_ack, keep-alives
                if frame["type"] in ("next", "data"):
                    result: dict[str, Any] = frame["payload"]
                    return result
                if frame["type"] == "error":
                    errors = frame["payload"]
                    return {"errors": errors if isinstance(errors, list) else [errors]}
                raise AssertionError(f"unexpected frame {frame}")


def _payload(
    document: str | None, variables: dict[str, Any] | None, extensions: dict[str, Any] | None
) -> dict[str, Any]:
    # A persisted operation may be named by its hash alone: no query at all.
    payload: dict[str, Any] = {"variables": variables}
    if document is not None:
        payload["query"] = document
    if extensions is not None:
        payload["extensions"] = extensions
    return payload


TRANSPORTS: list[Transport] = [Http(), WebSocket(TRANSPORT_WS), WebSocket(LEGACY_WS)]
