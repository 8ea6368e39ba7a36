"""Persisted operations and HTTP entity tags, without a server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopwindow.gateway.execution.persisted import (
    BAD_REQUEST,
    NOT_FOUND,
    NOT_IN_LIST,
    ManifestError,
    PersistedOperations,
    PersistedRefusal,
    load_manifest,
    sha256_of,
)
from shopwindow.gateway.transport.http_caching import HttpCaching, entity_tag, matches

QUERY = "{ product(id: 1) { id } }"
HASH = sha256_of(QUERY)


def persisted(sha: Any = HASH, version: Any = 1, **more: Any) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha, **more}}


def apq(max_bytes: int = 10_000) -> PersistedOperations:
    return PersistedOperations(None, max_bytes, accepts=lambda q: "invalid" not in q)


@pytest.mark.parametrize(
    ("query", "extensions", "code"),
    [
        (None, persisted(), NOT_FOUND),
        (None, None, BAD_REQUEST),
        ("  ", None, BAD_REQUEST),
        (42, None, BAD_REQUEST),
        (["{ a }"], persisted(), BAD_REQUEST),
        ("{ other }", persisted(), BAD_REQUEST),  # The text does not hash to the id.
        (QUERY, persisted(HASH.upper()), BAD_REQUEST),
        (QUERY, persisted(version=2), BAD_REQUEST),
        (QUERY, persisted(version="1"), BAD_REQUEST),
        (QUERY, persisted(sha=None), BAD_REQUEST),
        (QUERY, persisted(sha=""), BAD_REQUEST),
        (QUERY, persisted(sha="a" * 100_000), BAD_REQUEST),
        (QUERY, {"persistedQuery": "yes"}, BAD_REQUEST),
    ],
)
def test_automatic_persisted_queries_refuse_what_names_no_operation(
    query: Any, extensions: Any, code: str
) -> None:
    with pytest.raises(PersistedRefusal) as refused:
        apq().resolve(query, extensions)
    assert refused.value.code == code
    assert refused.value.error.extensions == {"code": code}


def test_a_miss_then_the_text_then_the_hash_alone() -> None:
    store = apq()
    with pytest.raises(PersistedRefusal, match="PersistedQueryNotFound"):
        store.resolve(None, persisted())
    registered = store.resolve(QUERY, persisted())
    assert (registered.query, registered.persisted_id) == (QUERY, HASH)
    by_hash = store.resolve(None, persisted())
    assert (by_hash.query, by_hash.persisted_id) == (QUERY, HASH)
    # Plain text runs as ever, and is not a persisted operation.
    assert store.resolve(QUERY, {"other": 1}).persisted_id is None
    assert store.resolve(QUERY, {"persistedQuery": None}).persisted_id is None


def test_invalid_operations_and_oversized_texts_are_never_remembered() -> None:
    store = apq(max_bytes=len(QUERY))
    invalid = "{ invalid }"
    assert store.resolve(invalid, persisted(sha256_of(invalid))).query == invalid
    too_big = QUERY + " "
    assert store.resolve(too_big, persisted(sha256_of(too_big))).query == too_big
    for text in (invalid, too_big):
        with pytest.raises(PersistedRefusal):
            store.resolve(None, persisted(sha256_of(text)))
    assert store.stored_bytes == 0
    # The bound counts bytes, not characters.
    wide = "{ é }"
    narrow = apq(max_bytes=len(wide))
    narrow.resolve(wide, persisted(sha256_of(wide)))
    assert narrow.stored_bytes == 0


@given(st.lists(st.text(min_size=1, max_size=40), max_size=60))
def test_the_store_stays_within_its_bytes_and_keeps_the_newest(texts: list[str]) -> None:
    store = apq(max_bytes=200)
    for text in texts:
        store.resolve(text, persisted(sha256_of(text)))
        assert store.stored_bytes <= 200
    if texts and "invalid" not in texts[-1]:
        assert store.resolve(None, persisted(sha256_of(texts[-1]))).query == texts[-1]


def manifest_file(tmp_path: Path, operations: Any, **fields: Any) -> Path:
    path = tmp_path / "manifest.json"
    document = {"format": "apollo-persisted-query-manifest", "version": 1, **fields}
    path.write_bytes(orjson.dumps({**document, "operations": operations}))
    return path


def test_trusted_documents_run_by_id_or_by_their_exact_text(tmp_path: Path) -> None:
    listed = {"id": "page-v1", "name": "Page", "type": "query", "body": QUERY}
    trusted = PersistedOperations(load_manifest(manifest_file(tmp_path, [listed])), 0, bool)
    assert trusted.trusted_only
    by_id = trusted.resolve(None, persisted("page-v1"))
    assert (by_id.query, by_id.persisted_id) == (QUERY, "page-v1")
    assert trusted.resolve(QUERY, None).persisted_id == "page-v1"
    for query, extensions, code in [
        ("{ __schema { types { name } } }", None, NOT_IN_LIST),
        (None, persisted(HASH), NOT_IN_LIST),  # Not its id in this manifest.
        (None, persisted("page-v2"), NOT_IN_LIST),
        ("{ other }", persisted("page-v1"), BAD_REQUEST),
        (QUERY + " ", None, NOT_IN_LIST),  # Trusted is exact: no APQ learning either.
    ]:
        with pytest.raises(PersistedRefusal) as refused:
            trusted.resolve(query, extensions)
        assert refused.value.code == code, (query, extensions)
    with pytest.raises(PersistedRefusal):
        trusted.resolve(QUERY + " ", persisted(sha256_of(QUERY + " ")))


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"[]",
        b'{"format": "apollo-persisted-query-manifest", "version": 2, "operations": []}',
        b'{"format": "other", "version": 1, "operations": []}',
        b'{"format": "apollo-persisted-query-manifest", "version": 1, "operations": {}}',
        b'{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [1]}',
        b'{"format": "apollo-persisted-query-manifest", "version": 1, '
        b'"operations": [{"id": "", "body": "{ a }"}]}',
        b'{"format": "apollo-persisted-query-manifest", "version": 1, '
        b'"operations": [{"id": "x", "body": " "}]}',
    ],
)
def test_an_unusable_manifest_fails_at_start(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes(content)
    with pytest.raises(ManifestError):
        load_manifest(path)
    with pytest.raises(ManifestError):
        load_manifest(tmp_path / "missing.json")


def tag(**changes: Any) -> str:
    fields: dict[str, Any] = {
        "document_hash": HASH,
        "operation_name": None,
        "variables": {"id": "a", "n": 1},
        "segment": None,
        "documents": [("a", 3), ("b", 1)],
        "data": b'{"product":{"id":"a"}}',
    }
    return entity_tag(**{**fields, **changes})


def test_an_entity_tag_changes_with_anything_a_viewer_would_see() -> None:
    same = tag()
    assert tag(variables={"n": 1, "id": "a"}) == same  # Key order is not a difference.
    assert tag(documents=[("b", 1), ("a", 3)]) == same
    changes: list[dict[str, Any]] = [
        {"document_hash": "other"},
        {"operation_name": "Page"},
        {"variables": {"id": "b", "n": 1}},
        {"segment": "gold"},
        {"documents": [("a", 4), ("b", 1)]},
        {"documents": [("a", 3)]},
        {"data": b'{"product":{"id":"b"}}'},
    ]
    for change in changes:
        assert tag(**change) != same, change


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("", False),
        ('W/"abc"', True),
        ('"abc"', True),
        ('"x", W/"abc"', True),
        ("*", True),
        ('W/"abd"', False),
        ("W/" + "a" * 10_000, False),
        (",,,", False),
    ],
)
def test_if_none_match_compares_weakly(header: str | None, expected: bool) -> None:
    assert matches(header, 'W/"abc"') is expected


def test_cache_control_is_public_for_anonymous_viewers_only() -> None:
    caching = HttpCaching(max_age_s=5, stale_while_revalidate_s=30)
    assert caching.cache_control(False) == "public, max-age=5, stale-while-revalidate=30"
    assert caching.cache_control(True) == "private, max-age=5"


@pytest.mark.parametrize(
    ("holds_s", "expected"),
    [
        (None, "public, max-age=5, stale-while-revalidate=30"),
        (3600.0, "public, max-age=5, stale-while-revalidate=30"),
        (20.9, "public, max-age=5, stale-while-revalidate=15"),
        (5.0, "public, max-age=5, stale-while-revalidate=0"),
        (2.5, "public, max-age=2, stale-while-revalidate=0"),
        (0.4, "public, max-age=0, stale-while-revalidate=0"),
        (-3.0, "public, max-age=0, stale-while-revalidate=0"),
    ],
)
def test_cache_control_never_reaches_past_the_next_price_boundary(
    holds_s: float | None, expected: str
) -> None:
    caching = HttpCaching(max_age_s=5, stale_while_revalidate_s=30)
    assert caching.cache_control(False, holds_s) == expected
    private = expected.split(", stale")[0].replace("public", "private")
    assert caching.cache_control(True, holds_s) == private
