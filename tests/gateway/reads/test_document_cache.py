"""The gateway's document cache on its own: bounded in bytes, versions never go back."""

from __future__ import annotations

from datetime import UTC, datetime

from shopwindow.gateway.metrics import GatewayMetrics
from shopwindow.gateway.reads.document_cache import DocumentCache
from shopwindow.sale_product import SaleProduct

WHEN = datetime(2026, 11, 23, 12, tzinfo=UTC)


def doc(product_id: str, version: int) -> SaleProduct:
    return SaleProduct(product_id, 2, version, None, WHEN, True, {})


def cache(max_bytes: int = 1000) -> tuple[DocumentCache, GatewayMetrics]:
    metrics = GatewayMetrics()
    return DocumentCache(max_bytes, metrics), metrics


def test_the_least_recently_used_go_first_when_the_bytes_run_out() -> None:
    documents, metrics = cache(250)
    documents.put(doc("a", 1), 100)
    documents.put(doc("b", 1), 100)
    assert documents.lookup("a")[0]  # "a" is now the most recently used.
    documents.put(doc("c", 1), 100)
    assert [documents.lookup(p)[0] for p in "abc"] == [True, False, True]
    assert metrics.registry.get_sample_value("shopwindow_document_cache_bytes") == 200
    assert metrics.registry.get_sample_value("shopwindow_document_cache_documents") == 2


def test_a_version_never_goes_back() -> None:
    documents, _ = cache()
    documents.put(doc("a", 5), 10)
    documents.put(doc("a", 4), 10)
    documents.put(doc("a", 5), 10)
    assert documents.lookup("a")[1] == doc("a", 5)
    documents.put(doc("a", 6), 10)
    assert (found := documents.lookup("a")[1]) is not None and found.version == 6


def test_a_product_gone_stays_gone_for_older_copies() -> None:
    documents, _ = cache()
    documents.put(doc("a", 3), 10)
    documents.gone("a", 4)
    documents.put(doc("a", 3), 10)  # A late read of the copy before the deletion.
    assert documents.lookup("a") == (True, None)
    documents.put(doc("a", 5), 10)  # It came back.
    assert documents.lookup("a")[1] == doc("a", 5)


def test_a_read_begun_before_a_clear_is_not_kept() -> None:
    documents, _ = cache()
    began = documents.epoch
    documents.clear()
    documents.put(doc("a", 1), 10, read_in=began)
    assert documents.lookup("a") == (False, None)
    documents.put(doc("a", 1), 10, read_in=documents.epoch)
    assert documents.lookup("a")[0]


def test_what_cannot_fit_and_a_cache_of_zero_bytes_keep_nothing() -> None:
    documents, _ = cache(50)
    documents.put(doc("a", 1), 51)
    off, _ = cache(0)
    off.put(doc("a", 1), 1)
    off.gone("b", 1)
    assert documents.lookup("a") == off.lookup("a") == off.lookup("b") == (False, None)
    assert not off.enabled
