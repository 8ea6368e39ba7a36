"""Changelog records to index rows.

Reading a document (JSON, the contract's typed views, the row) is plain Python and is
most of what building the index costs. A worker process converting one batch ahead was
tried and measured slower (pickling the rows back costs about what it saves, and the
broker shares the two CPUs), so conversion runs in the index's writer thread.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from shopwindow.document import NewerSchemaVersion, decode_changelog_value
from shopwindow.gateway.search.rows import IndexRow, row_of
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


def changes_of(records: Sequence[Record]) -> Changes:
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
            changes.rows[product_id] = row_of(read_sale_product(decode_changelog_value(value)))
        except (ValueError, ArithmeticError, TypeError, KeyError, NewerSchemaVersion) as error:
            changes.rows[product_id] = None
            changes.unreadable.append((product_id, offset, str(error)))
    return changes
