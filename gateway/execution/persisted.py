"""Persisted operations: Apollo's automatic persisted queries and trusted documents.

A client names an operation by the SHA-256 of its text in
``extensions.persistedQuery`` (``{"version": 1, "sha256Hash": ...}``):

* **Automatic persisted queries** (the default). A hash the replica has not seen is
  refused with ``PersistedQueryNotFound``; the client then sends the hash with the
  text, which is checked against the hash and remembered once the operation is valid.
  The store is per replica and bounded in bytes: a miss costs one round trip.
* **Trusted documents** (``SHOPWINDOW_PERSISTED_ONLY=true``). Only the operations of a
  manifest in Apollo's persisted-query manifest format run, named by their id or sent
  in full with a listed text. Nothing is learnt from clients.

Every transport resolves what a client sent through the one ``PersistedOperations``.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from graphql import GraphQLError

from shopwindow.gateway.errors import GatewayError

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"
BAD_REQUEST = "BAD_REQUEST"
MANIFEST_FORMAT = "apollo-persisted-query-manifest"

_SHA256 = re.compile(r"[0-9a-f]{64}")
# Manifest ids may be any string a client build chose; this bounds what is looked up.
_MAX_ID_CHARS = 256


class PersistedRefusal(GatewayError):
    """What a client sent does not name an operation that may run.

    Args:
        message: For the client.
        code: ``extensions.code`` of the error.
    """

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def error(self) -> GraphQLError:
        """The error the client gets."""
        return self.graphql_errors()[0]


class ManifestError(GatewayError, ValueError):
    """A trusted-documents manifest that cannot be used; the gateway refuses to start.
    A ``ValueError`` too, so that settings validation reports it as one."""


@dataclass(frozen=True, slots=True)
class OperationText:
    """The text of the operation to run.

    Attributes:
        query: The GraphQL document.
        persisted_id: The id the client named it by; ``None`` when it sent the text
            only. Only persisted operations get HTTP caching headers.
    """

    query: str
    persisted_id: str | None = None


def sha256_of(query: str) -> str:
    """The hash Apollo clients name an operation by."""
    return hashlib.sha256(query.encode()).hexdigest()


def load_manifest(path: Path) -> dict[str, str]:
    """The operations of an Apollo persisted-query manifest, by id.

    Raises:
        ManifestError: When the file is unreadable or not such a manifest.
    """
    try:
        manifest = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as error:
        raise ManifestError(f"cannot read the manifest {path}: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ManifestError(f"{path} is not an {MANIFEST_FORMAT} (format field)")
    if manifest.get("version") != 1:
        raise ManifestError(f"{path}: only version 1 of the manifest format is known")
    operations = manifest.get("operations")
    if not isinstance(operations, list):
        raise ManifestError(f"{path}: 'operations' must be a list")
    by_id: dict[str, str] = {}
    for index, operation in enumerate(operations):
        if not isinstance(operation, dict):
            raise ManifestError(f"{path}: operation {index} is not an object")
        op_id, body = operation.get("id"), operation.get("body")
        if not isinstance(op_id, str) or not 0 < len(op_id) <= _MAX_ID_CHARS:
            raise ManifestError(f"{path}: operation {index} has no usable id")
        if not isinstance(body, str) or not body.strip():
            raise ManifestError(f"{path}: operation {op_id} has no body")
        by_id[op_id] = body
    return by_id


class PersistedOperations:
    """Resolves what a client sent to the text of the operation to run.

    Args:
        trusted: The manifest's operations by id: only they run. ``None`` for
            automatic persisted queries.
        max_bytes: Bound of the automatic store, in bytes of operation text.
        accepts: Whether a text may be remembered (the policy's check that it parses and
            validates), so that junk never fills the store.
    """

    def __init__(
        self,
        trusted: Mapping[str, str] | None,
        max_bytes: int,
        accepts: Callable[[str], bool],
    ) -> None:
        self._trusted = dict(trusted) if trusted is not None else None
        self._trusted_texts = (
            {sha256_of(body): op_id for op_id, body in trusted.items()} if trusted else {}
        )
        self._max_bytes = max_bytes
        self._accepts = accepts
        self._store: OrderedDict[str, str] = OrderedDict()
        self._bytes = 0

    @property
    def trusted_only(self) -> bool:
        """Whether only the manifest's operations run."""
        return self._trusted is not None

    def resolve(self, query: Any, extensions: Any) -> OperationText:
        """The operation a request names, by text or by ``extensions.persistedQuery``.

        Args:
            query: The request's ``query`` as sent (any JSON value).
            extensions: The request's ``extensions`` as sent.

        Raises:
            PersistedRefusal: When no operation may run; ``PERSISTED_QUERY_NOT_FOUND``
                tells an APQ client to send the text.
        """
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if query is not None and not isinstance(query, str):
            raise PersistedRefusal("'query' must be a string.", BAD_REQUEST)
        if persisted is None:
            if not query or not query.strip():
                raise PersistedRefusal("'query' must be a non-empty string.", BAD_REQUEST)
            return self._by_text(query)
        op_id = _persisted_id(persisted)
        if self._trusted is not None:
            return self._trusted_by_id(op_id, query)
        if not _SHA256.fullmatch(op_id):
            raise PersistedRefusal("sha256Hash must be 64 lowercase hex digits.", BAD_REQUEST)
        if query:
            if sha256_of(query) != op_id:
                raise PersistedRefusal("provided sha does not match query", BAD_REQUEST)
            self._remember(op_id, query)
            return OperationText(query, op_id)
        known = self._store.get(op_id)
        if known is None:
            raise PersistedRefusal("PersistedQueryNotFound", NOT_FOUND)
        self._store.move_to_end(op_id)
        return OperationText(known, op_id)

    def _by_text(self, query: str) -> OperationText:
        if self._trusted is None:
            return OperationText(query)
        op_id = self._trusted_texts.get(sha256_of(query))
        if op_id is None:
            raise PersistedRefusal("Only trusted documents may run here.", NOT_IN_LIST)
        return OperationText(query, op_id)

    def _trusted_by_id(self, op_id: str, query: str | None) -> OperationText:
        assert self._trusted is not None
        body = self._trusted.get(op_id)
        if body is None:
            raise PersistedRefusal(
                f"Persisted query '{op_id[:64]}' is not in the trusted documents.", NOT_IN_LIST
            )
        if query and query != body:
            raise PersistedRefusal("The query is not the trusted document's text.", BAD_REQUEST)
        return OperationText(body, op_id)

    def _remember(self, op_id: str, query: str) -> None:
        if op_id in self._store:
            self._store.move_to_end(op_id)
            return
        size = _size(query)
        if size > self._max_bytes or not self._accepts(query):
            return
        self._store[op_id] = query
        self._bytes += size
        while self._bytes > self._max_bytes:
            _, dropped = self._store.popitem(last=False)
            self._bytes -= _size(dropped)

    @property
    def stored_bytes(self) -> int:
        """Bytes of operation text the automatic store holds."""
        return self._bytes


def _size(query: str) -> int:
    return len(query.encode())


def _persisted_id(persisted: Any) -> str:
    if not isinstance(persisted, dict):
        raise PersistedRefusal("extensions.persistedQuery must be an object.", BAD_REQUEST)
    if persisted.get("version") != 1:
        raise PersistedRefusal("Unsupported persisted query version.", BAD_REQUEST)
    op_id = persisted.get("sha256Hash")
    if not isinstance(op_id, str) or not 0 < len(op_id) <= _MAX_ID_CHARS:
        raise PersistedRefusal("extensions.persistedQuery.sha256Hash is missing.", BAD_REQUEST)
    return op_id
