"""The materializer's document cache: least recently used out, within a bound in bytes."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shopwindow.materializer.document_cache import (
    MEMORY_PER_JSON_BYTE,
    DocumentCache,
    encoded_size,
)
from shopwindow.materializer.metrics import MaterializerMetrics
from tests.fuzz import SCALE


def doc(product_id: str, padding: int = 0) -> dict[str, Any]:
    return {"_id": product_id, "padding": "x" * padding}


SIZE = encoded_size(doc("a"))  # Every one-letter id without padding counts this much.
ONE_MORE = SIZE // MEMORY_PER_JSON_BYTE  # Characters of padding that count SIZE more.


def test_the_cache_forgets_the_least_recently_used() -> None:
    cache = DocumentCache(2 * SIZE)
    cache.put("a", doc("a"))
    cache.put("b", doc("b"))
    assert cache.get("a") is not None
    cache.put("c", doc("c"))
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (doc("a"), None, doc("c"))
    cache.forget(["a"])
    assert cache.get("a") is None and len(cache) == 1 and cache.size_bytes == SIZE


def test_a_document_that_grew_evicts_by_its_new_size() -> None:
    # The growth the soak found: one product's document fills up, and the bound holds.
    cache = DocumentCache(3 * SIZE)
    for product_id in "abc":
        cache.put(product_id, doc(product_id))
    cache.put("c", doc("c", padding=ONE_MORE))
    assert cache.get("a") is None and cache.get("b") is not None
    assert cache.size_bytes == 3 * SIZE


def test_a_document_larger_than_the_bound_is_not_kept_nor_its_old_copy() -> None:
    cache = DocumentCache(2 * SIZE)
    cache.put("a", doc("a"))
    cache.put("b", doc("b"))
    cache.put("a", doc("a", padding=2 * ONE_MORE))
    assert cache.get("a") is None, "the stale copy would be written over the new one"
    assert cache.get("b") == doc("b") and cache.size_bytes == SIZE


def test_a_cache_of_size_zero_keeps_nothing() -> None:
    cache = DocumentCache(0)
    cache.put("a", doc("a"))
    assert cache.get("a") is None and cache.size_bytes == 0


def test_its_size_is_reported() -> None:
    metrics = MaterializerMetrics()
    cache = DocumentCache(10 * SIZE, metrics)
    cache.put("a", doc("a"))
    cache.put("b", doc("b"))
    sample = metrics.registry.get_sample_value
    assert sample("shopwindow_materializer_document_cache_bytes") == 2 * SIZE
    assert sample("shopwindow_materializer_document_cache_documents") == 2
    cache.clear()
    assert sample("shopwindow_materializer_document_cache_bytes") == 0


operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from("abcde"), st.integers(0, 3 * ONE_MORE)),
        st.tuples(st.just("get"), st.sampled_from("abcde"), st.just(0)),
        st.tuples(st.just("forget"), st.sampled_from("abcde"), st.just(0)),
        st.tuples(st.just("clear"), st.just(""), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=200 * SCALE)
@given(operations, st.integers(0, 4 * SIZE))
def test_the_bytes_held_are_the_sum_of_the_documents_and_within_the_bound(
    steps: list[tuple[str, str, int]], bound: int
) -> None:
    cache = DocumentCache(bound)
    latest: dict[str, dict[str, Any]] = {}
    for operation, product_id, padding in steps:
        match operation:
            case "put":
                latest[product_id] = doc(product_id, padding)
                cache.put(product_id, latest[product_id])
            case "get":
                found = cache.get(product_id)
                # Never a copy older than the last one put: that would undo a write.
                assert found is None or found == latest.get(product_id)
            case "forget":
                cache.forget([product_id])
            case _:
                cache.clear()
    held = [d for d in (cache.get(p) for p in "abcde") if d is not None]
    assert cache.size_bytes == sum(encoded_size(d) for d in held) <= bound
    assert len(cache) == len(held)
