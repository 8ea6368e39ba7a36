"""The GraphiQL page and its assets, all answered by the ``/graphql`` route itself.

An asset is asked for as ``GET /graphql?graphiql=<file>&v=<digest>``: the same path as
the API, so an ingress that routes ``/graphql`` alone serves the page whole. Assets are
read once at start, answered with a strong entity tag, and cached for a year by
browsers, since the digest in the URL changes with their content. The page allows
scripts and styles of this origin only (GraphiQL adds inline styles, so those too).
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENDOR = HERE / "vendor"
ASSET_PARAMETER = "graphiql"
_MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# Loaded in this order: React, then ReactDOM, GraphiQL (which needs both), then us.
_SCRIPTS = ("react.production.min.js", "react-dom.production.min.js", "graphiql.min.js")
_STYLES = ("graphiql.min.css",)
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


@dataclass(frozen=True, slots=True)
class Asset:
    """One file of the page: its bytes, media type and digest."""

    body: bytes
    media_type: str
    digest: str


class GraphiQLPage:
    """The page and its assets, read from the package once.

    Raises:
        FileNotFoundError: When a vendored file is missing (the package is broken).
    """

    def __init__(self) -> None:
        self.assets: dict[str, Asset] = {}
        for name in (*_SCRIPTS, *_STYLES):
            self.assets[name] = _asset(VENDOR / name)
        self.assets["start.js"] = _asset(HERE / "start.js")
        tags = [f'<link rel="stylesheet" href="{self.url(n)}">' for n in _STYLES]
        tags += [f'<script src="{self.url(n)}"></script>' for n in (*_SCRIPTS, "start.js")]
        self.html = (
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            "<title>shopwindow GraphiQL</title>"
            # No favicon request: the browser would ask for /favicon.ico, which is not ours.
            '<link rel="icon" href="data:,">'
            f"{''.join(tags[: len(_STYLES)])}</head>"
            '<body style="margin:0"><div id="graphiql" style="height:100vh"></div>'
            f"{''.join(tags[len(_STYLES) :])}</body></html>\n"
        )

    def url(self, name: str) -> str:
        """Where the page asks for asset ``name``."""
        return html.escape(f"?{ASSET_PARAMETER}={name}&v={self.assets[name].digest[:16]}")

    def asset(self, name: str) -> Asset | None:
        """Asset ``name``, or ``None`` for a name that is not one of the page's."""
        return self.assets.get(name)

    @staticmethod
    def manifest() -> dict[str, dict[str, object]]:
        """What was vendored from where: package, version, licence and file digests."""
        loaded: dict[str, dict[str, object]] = json.loads((VENDOR / "MANIFEST.json").read_text())
        return loaded


def _asset(path: Path) -> Asset:
    body = path.read_bytes()
    return Asset(body, _MEDIA_TYPES[path.suffix], hashlib.sha256(body).hexdigest())
