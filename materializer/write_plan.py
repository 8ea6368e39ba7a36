"""Turning a folded document into the smallest conditional MongoDB write.

Pure: the plans are plain dicts the store hands to pymongo. Every write is guarded by
the revision the fold started from (optimistic concurrency), so two materializers that
fold the same product at once cannot lose each other's events: the loser's write
matches nothing, and it re-reads and folds again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shopwindow.document import META, UPGRADED_FROM

# Sub-documents diffed key by key instead of replaced whole, because they grow large;
# the writer adds the sources' entries (a price or a stock level per SKU).
DIFFED_PATHS = frozenset({META})


@dataclass(frozen=True, slots=True)
class InsertPlan:
    """Create the document; fails with a duplicate key if another writer was first."""

    document: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    """Update the document if it still has the revision the fold read."""

    filter: dict[str, Any]
    update: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReplacePlan:
    """Replace a document stored in an older contract, if it still has the revision the
    fold read."""

    filter: dict[str, Any]
    document: dict[str, Any]


WritePlan = InsertPlan | UpdatePlan | ReplacePlan


def plan_write(
    old: Mapping[str, Any] | None, new: dict[str, Any], diffed: frozenset[str] = DIFFED_PATHS
) -> WritePlan:
    """The write that turns ``old`` into ``new``.

    Args:
        old: The document as read, or ``None`` if there was none.
        new: The folded document.
        diffed: Top-level fields written key by key, not whole.

    Returns:
        An insert for a new document, a revision-guarded replacement for one stored in
        an older contract, else a revision-guarded ``$set``/``$unset``.
    """
    if old is None:
        return InsertPlan(new)
    guard = {"_id": new["_id"], f"{META}.revision": old[META]["revision"]}
    if UPGRADED_FROM in old[META]:
        return ReplacePlan(filter=guard, document=new)
    to_set: dict[str, Any] = {}
    to_unset: dict[str, Any] = {}
    _diff(old, new, "", diffed, to_set, to_unset)
    update: dict[str, Any] = {}
    if to_set:
        update["$set"] = to_set
    if to_unset:
        update["$unset"] = to_unset
    return UpdatePlan(filter=guard, update=update)


def _diff(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    prefix: str,
    diffed: frozenset[str],
    to_set: dict[str, Any],
    to_unset: dict[str, Any],
) -> None:
    for field, value in new.items():
        path = f"{prefix}{field}"
        if field in old and (
            # The fold shares what it did not change with the document it read.
            old[field] is value or (old[field] == value and type(old[field]) is type(value))
        ):
            continue
        if path in diffed and isinstance(value, dict) and isinstance(old.get(field), dict):
            _diff(old[field], value, f"{path}.", diffed, to_set, to_unset)
        else:
            to_set[path] = value
    for field in old:
        if field not in new:
            to_unset[f"{prefix}{field}"] = ""
