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
from datetime import datetime
from typing import Any

from shopwindow.document import decode_changelog_value
from shopwindow.gateway.search.changelog_rows import row_of_changelog_document
from shopwindow.gateway.search.rows import NO_LOCALES, IndexRow, Locales, row_of
from shopwindow.materializer.sources.offers import next_price_change
from shopwindow.sale_product import read_sale_product

log = logging.getLogger(__name__)

# A changelog record as conversion needs it: key, value, offset.
Record = tuple[bytes | None, bytes | None, int]


@dataclass
class Changes:
    """The newest row per product of a batch (``None`` takes a product out), the
    records that could not be read, with the reason, and when the rows of products with
    scheduled prices change by themselves (the record to convert again then)."""

    rows: dict[str, IndexRow | None] = field(default_factory=dict)
    unreadable: list[tuple[str, int, str]] = field(default_factory=list)
    next_changes: dict[str, tuple[datetime, Record]] = field(default_factory=dict)


def changes_of(records: Sequence[Record], at: datetime, locales: Locales = NO_LOCALES) -> Changes:
    """What ``records`` change in the index, at the prices in effect at ``at``.

    An unreadable record takes its product out: better missing than stale.
    """
    changes = Changes()
    for record in records:
        key, value, offset = record
        if key is None:
            continue
        product_id = key.decode("utf-8", "replace")
        changes.next_changes.pop(product_id, None)
        if value is None:
            changes.rows[product_id] = None
            continue
        try:
            row, next_change = _row(decode_changelog_value(value), at, locales)
        except Exception as error:  # Whatever a hostile document makes a reader raise.
            changes.rows[product_id] = None
            changes.unreadable.append((product_id, offset, _reason(error)))
            continue
        changes.rows[product_id] = row
        if next_change is not None and row is not None:
            changes.next_changes[product_id] = (next_change, record)
    return changes


def _row(
    doc: dict[str, Any], at: datetime, locales: Locales
) -> tuple[IndexRow | None, datetime | None]:
    try:
        # Documents with scheduled prices hold them among the price entries, which this
        # reader leaves to the typed views.
        return row_of_changelog_document(doc, locales), None
    except Exception:  # The typed views decide, and say why.
        product = read_sale_product(doc)
        return row_of(product, at, locales), next_price_change(product, at)


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
