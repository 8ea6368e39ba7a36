"""Changelog records to index rows.

Reading documents is plain Python and most of what building the index costs, so the
rows of documents the materializer writes are read straight from their JSON
(``changelog_rows``); any other document goes through the typed views. A worker
process converting one batch ahead was tried and measured slower (pickling the rows
back costs about what it saves, and the broker shares the two CPUs), so conversion
runs in the index's writer thread.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shopwindow.document import decode_changelog_value
from shopwindow.gateway.search.changelog_rows import row_of_changelog_document
from shopwindow.gateway.search.rows import NO_LOCALES, IndexRow, Locales, row_of
from shopwindow.sale_product import read_sale_product

log = logging.getLogger(__name__)

# A changelog record as conversion needs it: key, value, offset.
Record = tuple[bytes | None, bytes | None, int]


@dataclass
class Changes:
    """The newest row per product of a batch (``None`` takes a product out), and the
    records that could not be read, with the reason."""

    rows: dict[str, IndexRow | None] = field(default_factory=dict)
    unreadable: list[tuple[str, int, str]] = field(default_factory=list)


def changes_of(records: Sequence[Record], locales: Locales = NO_LOCALES) -> Changes:
    """What ``records`` change in the index.

    An unreadable record takes its product out: better missing than stale.
    """
    changes = Changes()
    for key, value, offset in records:
        if key is None:
            continue
        product_id = key.decode("utf-8", "replace")
        if value is None:
            changes.rows[product_id] = None
            continue
        try:
            changes.rows[product_id] = _row(decode_changelog_value(value), locales)
        except Exception as error:  # Whatever a hostile document makes a reader raise.
            changes.rows[product_id] = None
            changes.unreadable.append((product_id, offset, _reason(error)))
    return changes


def _row(doc: dict[str, Any], locales: Locales) -> IndexRow | None:
    try:
        return row_of_changelog_document(doc, locales)
    except Exception:  # The typed views decide, and say why.
        # Indexed at the prices in effect now: the index is not re-fed when a scheduled
        # price begins or ends (docs/markets.md, "What is not built yet").
        return row_of(read_sale_product(doc), datetime.now(UTC), locales)


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
