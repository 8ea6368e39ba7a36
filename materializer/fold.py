"""The fold: a product's document and a run of its events -> the next document.

Pure and deterministic: no I/O, no clock, no environment. Exactly-once in effect rests
on three rules kept here:

* **Log watermarks.** ``_meta.applied`` holds, per source ``topic:partition``, the
  offset of the last record that changed this document. Records of a partition reach a
  product in offset order, so a record at or below the watermark was applied already:
  redeliveries, replays from the beginning and re-folds after a crash are skipped.
* **Event ids.** A source id (outbox ``id`` header, order id) seen among the last
  ``recent_ids_kept`` ids of the product is skipped, which catches a source that
  re-publishes the same event at a new offset.
* **Ordering keys.** Snapshots (catalog, price, each review) carry
  ``(updated_at, partition, offset)``; only a greater key replaces the stored one, so
  an older snapshot never overwrites a newer one, whatever the delivery order.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shopwindow.document import META, StockStatus, discount_percent, escape_key
from shopwindow.materializer.events import (
    CatalogDeletion,
    CatalogSnapshot,
    InventoryDelta,
    OrderPlaced,
    PriceDeletion,
    PriceSnapshot,
    ProductViewed,
    ReviewUpserted,
    SourcedEvent,
    StockTake,
    event_time,
)

Document = dict[str, Any]
OrderingKey = tuple[datetime, int, int]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class FoldSettings:
    """Tunables of the fold.

    Attributes:
        low_stock_threshold: At or below this many available units (and above zero) the
            status is ``LOW_STOCK``.
        recent_ids_kept: How many source event ids each document remembers.
    """

    low_stock_threshold: int = 5
    recent_ids_kept: int = 256


class _Effect(enum.Enum):
    NONE = 0  # Nothing changed; the record leaves no trace.
    META = 1  # Only bookkeeping changed (e.g. a deletion of a product not yet cataloged).
    PUBLIC = 2  # What clients see changed: the version goes up.


def new_document(product_id: str) -> Document:
    """The document of a product nothing is known about yet."""
    return {
        "_id": product_id,
        "version": 0,
        "updated_at": None,
        "visible": False,
        "catalog": None,
        "price": None,
        "stock": {
            "quantity": 0,
            "available": 0,
            "status": StockStatus.OUT_OF_STOCK.value,
            "updated_at": None,
        },
        "rating": {"average": None, "count": 0, "sum": 0},
        "popularity": {"views": 0, "orders": 0},
        META: {
            "revision": 0,
            "applied": {},
            "catalog_key": None,
            "price_key": None,
            "reviews": {},
            "ids": [],
        },
    }


@dataclass(frozen=True, slots=True)
class FoldResult:
    """What folding a run of events did.

    Attributes:
        document: The new document, or ``None`` when nothing changed (nothing to write).
        applied: The events that changed the document.
        redelivered: How many events had been applied before (offset at or below the
            watermark, or a known event id).
    """

    document: Document | None
    applied: tuple[SourcedEvent, ...]
    redelivered: int


def fold(
    doc: Document | None,
    product_id: str,
    events: Sequence[SourcedEvent],
    settings: FoldSettings,
) -> FoldResult:
    """Apply a product's events, in log order per partition, to its document.

    Args:
        doc: The stored document, or ``None`` when there is none yet.
        product_id: The product the events are for.
        events: The product's events of one batch; events of one partition in offset
            order.
        settings: Tunables.

    Returns:
        The new document (``None`` when nothing changed) and what was applied.
    """
    state = _copy(doc) if doc is not None else new_document(product_id)
    meta = state[META]
    applied: list[SourcedEvent] = []
    redelivered = 0
    for sourced in events:
        position = sourced.position
        watermark_key = escape_key(f"{position.topic}:{position.partition}")
        source_id = _source_id(sourced)
        if meta["applied"].get(watermark_key, -1) >= position.offset or (
            source_id is not None and source_id in meta["ids"]
        ):
            redelivered += 1
            continue
        effect = _apply(state, sourced)
        if effect is _Effect.NONE:
            continue
        applied.append(sourced)
        meta["applied"][watermark_key] = position.offset
        if source_id is not None:
            meta["ids"] = [*meta["ids"], source_id][-settings.recent_ids_kept :]
        if effect is _Effect.PUBLIC:
            state["version"] += 1
            when = event_time(sourced.event)
            if when is not None and (state["updated_at"] is None or when > state["updated_at"]):
                state["updated_at"] = when
    if not applied:
        return FoldResult(None, (), redelivered)
    meta["revision"] += 1  # Guards the write; bumped even when clients see no change.
    _derive(state, settings)
    return FoldResult(state, tuple(applied), redelivered)


def _copy(value: Any) -> Any:
    # The fold never mutates its input. Documents are dicts and lists of immutable
    # leaves (str, int, Decimal, datetime, ...), so copying the containers suffices;
    # copy.deepcopy's memo bookkeeping made it the fold's largest cost.
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _source_id(sourced: SourcedEvent) -> str | None:
    if sourced.event_id is not None:
        return f"id:{sourced.event_id}"
    if isinstance(sourced.event, OrderPlaced):
        return f"order:{sourced.event.order_id}"
    return None


def _key(time: datetime, sourced: SourcedEvent) -> OrderingKey:
    return (time, sourced.position.partition, sourced.position.offset)


def _stored_key(value: Sequence[Any] | None) -> OrderingKey | None:
    return None if value is None else (value[0], int(value[1]), int(value[2]))


def _apply(state: Document, sourced: SourcedEvent) -> _Effect:
    event = sourced.event
    match event:
        case CatalogSnapshot():
            catalog = {
                "name": event.name,
                "description": event.description,
                "brand": event.brand,
                "category": event.category,
                "images": list(event.images),
                "attributes": [{"name": k, "value": v} for k, v in event.attributes.items()],
            }
            return _replace_snapshot(state, "catalog", catalog, event.updated_at, sourced)
        case PriceSnapshot():
            price = {
                "currency": event.currency,
                "amount": event.amount,
                "list_amount": event.list_amount,
                "segment_amounts": dict(event.segment_amounts),
            }
            return _replace_snapshot(state, "price", price, event.updated_at, sourced)
        case CatalogDeletion():
            return _delete_snapshot(state, "catalog", event.deleted_at, sourced)
        case PriceDeletion():
            return _delete_snapshot(state, "price", event.deleted_at, sourced)
        case InventoryDelta():
            return _set_stock(state, state["stock"]["quantity"] + event.quantity_change, event)
        case StockTake():
            return _set_stock(state, event.quantity, event)
        case OrderPlaced():
            state["popularity"]["orders"] += 1
            return _Effect.PUBLIC
        case ProductViewed():
            state["popularity"]["views"] += 1
            return _Effect.PUBLIC
        case ReviewUpserted():
            return _upsert_review(state, event, sourced)


def _replace_snapshot(
    state: Document,
    field: str,
    content: dict[str, Any],
    updated_at: datetime,
    sourced: SourcedEvent,
) -> _Effect:
    meta = state[META]
    key = _key(updated_at, sourced)
    stored = _stored_key(meta[f"{field}_key"])
    if stored is not None and key <= stored:
        return _Effect.NONE
    meta[f"{field}_key"] = list(key)
    current = state[field]
    if current is not None and {k: v for k, v in current.items() if k in content} == content:
        return _Effect.META  # Same content, newer time: nothing for clients to see.
    state[field] = {**content, "updated_at": updated_at}
    return _Effect.PUBLIC


def _delete_snapshot(
    state: Document, field: str, deleted_at: datetime | None, sourced: SourcedEvent
) -> _Effect:
    meta = state[META]
    stored = _stored_key(meta[f"{field}_key"])
    # Without a time of its own a deletion is ordered after the snapshot it deletes by
    # its log position.
    time = deleted_at or (stored[0] if stored else _EPOCH)
    key = _key(time, sourced)
    if stored is not None and key <= stored:
        return _Effect.NONE
    meta[f"{field}_key"] = list(key)
    if state[field] is None:
        return _Effect.META  # Remembered, so that an older snapshot cannot resurrect it.
    state[field] = None
    return _Effect.PUBLIC


def _set_stock(state: Document, quantity: int, event: InventoryDelta | StockTake) -> _Effect:
    stock = state["stock"]
    newer = stock["updated_at"] is None or event.timestamp > stock["updated_at"]
    if quantity == stock["quantity"] and not newer:
        return _Effect.NONE
    stock["quantity"] = quantity
    if newer:
        stock["updated_at"] = event.timestamp
    return _Effect.PUBLIC


def _upsert_review(state: Document, event: ReviewUpserted, sourced: SourcedEvent) -> _Effect:
    reviews = state[META]["reviews"]
    review_key = escape_key(event.review_id)
    key = _key(event.updated_at, sourced)
    stored = reviews.get(review_key)
    if stored is not None and key <= _stored_key(stored["key"]):  # type: ignore[operator]
        return _Effect.NONE
    rating = state["rating"]
    if stored is not None and not stored["deleted"]:
        rating["count"] -= 1
        rating["sum"] -= stored["rating"]
    if not event.deleted:
        rating["count"] += 1
        rating["sum"] += event.rating
    reviews[review_key] = {"rating": event.rating, "deleted": event.deleted, "key": list(key)}
    unchanged = stored is not None and (stored["rating"], stored["deleted"]) == (
        event.rating,
        event.deleted,
    )
    if unchanged or (stored is None and event.deleted):
        return _Effect.META
    return _Effect.PUBLIC


def _derive(state: Document, settings: FoldSettings) -> None:
    state["visible"] = state["catalog"] is not None
    stock = state["stock"]
    stock["available"] = max(stock["quantity"], 0)
    if stock["available"] == 0:
        stock["status"] = StockStatus.OUT_OF_STOCK.value
    elif stock["available"] <= settings.low_stock_threshold:
        stock["status"] = StockStatus.LOW_STOCK.value
    else:
        stock["status"] = StockStatus.IN_STOCK.value
    price = state["price"]
    if price is not None:
        price["discount_percent"] = discount_percent(price["amount"], price["list_amount"])
    rating = state["rating"]
    rating["average"] = round(rating["sum"] / rating["count"], 2) if rating["count"] else None
