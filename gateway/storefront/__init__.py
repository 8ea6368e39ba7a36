"""The demo storefront: static HTML and JavaScript served at ``/`` beside ``/graphql``.

It is plain files in the package, with nothing loaded from another host, so the page
works offline and its Content-Security-Policy can allow this origin alone. The page
talks to the gateway only through the public API (HTTP queries and graphql-transport-ws
subscriptions), which makes it a worked example for frontend teams.
"""

from __future__ import annotations

__all__ = ["SECURITY_HEADERS", "storefront_routes"]

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"

# Only this origin: scripts, styles, the API and its WebSocket. Nothing inline, so data
# that slipped into the page as markup still could not run.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


class _SecuredStaticFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


async def _index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)


def storefront_routes() -> list[BaseRoute]:
    """The page at ``/`` and its files under ``/storefront/``."""
    return [
        Route("/", _index, methods=["GET", "HEAD"]),
        Mount("/storefront", _SecuredStaticFiles(directory=STATIC), name="storefront"),
    ]


__all__ = ["storefront_routes"]
