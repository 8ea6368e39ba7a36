"""Indexes the search tests build, each in a directory of its own, removed after."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from shopwindow.gateway.search.rows import IndexRow
from shopwindow.gateway.search.tantivy_index import TantivyIndex
from tests.materializer.conftest import sourced

# Rows are made of documents the real fold writes.
__all__ = ["indexed", "sourced"]


@contextlib.contextmanager
def indexed(
    rows: Sequence[IndexRow], markets: Sequence[str] = (), indexed_languages: Sequence[str] = ()
) -> Iterator[TantivyIndex]:
    """A small index of ``rows`` (with price fields for ``markets``, text fields for
    ``indexed_languages``), searchable, closed at the end of the block."""
    index = TantivyIndex(writer_memory_mb=16, markets=markets, indexed_languages=indexed_languages)
    try:
        index.put(rows)
        index.commit()
        yield index
    finally:
        index.close()
