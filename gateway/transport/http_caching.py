"""HTTP caching of persisted queries sent with GET: entity tags, 304s, Cache-Control.

Only a GET for a persisted operation (named by id, so its URL is short and stable)
that succeeded is cacheable. Its entity tag covers what makes two answers differ: the
operation and its variables, the viewer's segment, the version of every product the
answer returned, and a digest of the data itself (fields an extension reads from its
own collection have no product version). A client or CDN that sends the tag back in
``If-None-Match`` gets ``304 Not Modified`` while nothing it would see has changed.

* Anonymous viewers: ``public, max-age, stale-while-revalidate``, so a CDN may serve
  them all.
* Authenticated viewers (their segment's prices): ``private``, so only their own
  browser keeps the answer.
* Read-your-writes requests (``Shopwindow-After``) and everything else: ``no-store``.
* An answer showing a price that a scheduled price replaces (or that ends) at a known
  moment is kept no longer than until then: ``max-age`` and ``stale-while-revalidate``
  together never reach past it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

NO_STORE = "no-store"
# Shared caches must keep answers for different Accept and Authorization headers apart.
VARY = "Accept, Authorization, Shopwindow-After"


@dataclass(frozen=True, slots=True)
class HttpCaching:
    """How long clients and CDNs may keep a persisted query's answer.

    Attributes:
        max_age_s: Fresh for this long.
        stale_while_revalidate_s: Then served stale for this long while revalidated.
    """

    max_age_s: int
    stale_while_revalidate_s: int

    def cache_control(self, authenticated: bool, holds_s: float | None = None) -> str:
        """The ``Cache-Control`` of a cacheable answer.

        Args:
            authenticated: Whether the viewer sent a token.
            holds_s: For how many more seconds the answer's prices hold (a scheduled
                price begins or ends then); ``None``: until the next change.
        """
        max_age, stale = self.max_age_s, self.stale_while_revalidate_s
        if holds_s is not None:
            # Whole seconds, rounded down: a cache may keep it up to max-age inclusive.
            left = max(int(holds_s), 0)
            max_age = min(max_age, left)
            stale = min(stale, left - max_age)
        if authenticated:
            return f"private, max-age={max_age}"
        return f"public, max-age={max_age}, stale-while-revalidate={stale}"


def entity_tag(
    document_hash: str,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    segment: str | None,
    documents: Iterable[tuple[str, int]],
    data: bytes,
) -> str:
    """The weak entity tag of one answer.

    Args:
        document_hash: The SHA-256 of the operation's document text.
        operation_name: The operation run, of those in the document.
        variables: Its variables.
        segment: The viewer's segment.
        documents: ``(id, version)`` of every product the answer returned.
        data: The serialized ``data`` of the answer.
    """
    digest = hashlib.blake2b(digest_size=16)
    digest.update(document_hash.encode())
    digest.update(b"\0" + (operation_name or "").encode())
    digest.update(b"\0" + orjson.dumps(variables, option=orjson.OPT_SORT_KEYS))
    digest.update(b"\0" + (segment or "").encode() + b"\0")
    for product_id, version in sorted(documents):
        digest.update(f"{product_id}\0{version}\0".encode())
    digest.update(hashlib.blake2b(data, digest_size=16).digest())
    return f'W/"{digest.hexdigest()}"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """Whether ``If-None-Match`` names ``tag`` (weak comparison, RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    wanted = _opaque(tag)
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or _opaque(candidate) == wanted:
            return True
    return False


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag
