"""What sources of whole snapshots share: a record is the section's new content, and a
delete (tombstone or CDC delete) clears it.

Catalog and prices are such sources. Their events are ordered by their own time and
then their log position (``FoldStep.replace``/``delete``), so an older snapshot never
overwrites a newer one and a deleted section cannot come back from an older record.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from shopwindow.materializer.envelope import Envelope, deleted_product_id, validate
from shopwindow.materializer.events import ProductId, SourceEvent, Timestamp
from shopwindow.materializer.sources.base import Effect, FoldStep

S = TypeVar("S", bound=SourceEvent)
D = TypeVar("D", bound="SnapshotDeletion")


class SnapshotDeletion(SourceEvent):
    """A product's section was deleted at its source (tombstone or CDC delete)."""

    product_id: ProductId
    deleted_at: Timestamp | None = None


def snapshot_decoder(snapshot: type[S], deletion: type[D]) -> Callable[[Envelope], S | D]:
    """A decoder of snapshots, where a delete names the product by its row or its key."""

    def decode(envelope: Envelope) -> S | D:
        if envelope.is_delete:
            product_id = deleted_product_id(envelope)
            return validate(
                deletion, {"product_id": product_id, "deleted_at": envelope.source_time}
            )
        assert envelope.data is not None
        return validate(snapshot, envelope.data)

    return decode


def snapshot_fold(content: Callable[[Any], dict[str, Any]]) -> Callable[[FoldStep, Any], Effect]:
    """The fold of a snapshot source: ``content`` of a snapshot replaces the section."""

    def fold(step: FoldStep, event: Any) -> Effect:
        if isinstance(event, SnapshotDeletion):
            return step.delete(event.deleted_at)
        return step.replace(content(event), event.updated_at)

    return fold


def snapshot_time(event: Any) -> datetime | None:
    """A snapshot's ``updated_at``, or a deletion's own time if it has one."""
    if isinstance(event, SnapshotDeletion):
        return event.deleted_at
    time: datetime = event.updated_at
    return time
