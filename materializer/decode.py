"""Kafka record bytes -> one validated event, whatever envelope the source used.

Accepted shapes: plain JSON; the Debezium envelope (``before``/``after``/``op``/``ts_ms``)
with or without its ``schema``/``payload`` wrapper; and the Debezium outbox event router's
output (payload as a JSON string, event id in the ``id`` header). Anything else raises
``PoisonEvent`` with a reason fit for the dead-letter topic.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shopwindow.materializer.errors import PoisonEvent
from shopwindow.materializer.events import (
    CatalogDeletion,
    CatalogSnapshot,
    Event,
    InventoryDelta,
    OrderPlaced,
    PriceDeletion,
    PriceSnapshot,
    ProductViewed,
    ReviewUpserted,
    StockTake,
)

__all__ = ["DecodedRecord", "PoisonEvent", "SourceKind", "decode_record"]

M = TypeVar("M", bound=BaseModel)


class SourceKind(enum.Enum):
    """What a source topic carries."""

    CATALOG = "catalog"
    PRICES = "prices"
    INVENTORY = "inventory"
    ORDERS = "orders"
    CLICKS = "clicks"
    REVIEWS = "reviews"


@dataclass(frozen=True, slots=True)
class DecodedRecord:
    """The event in a record and the source's event id, if it gave one."""

    event: Event
    event_id: str | None


@dataclass(frozen=True, slots=True)
class _Unwrapped:
    data: dict[str, Any] | None  # None: a delete whose row image is absent
    is_delete: bool
    source_time: datetime | None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _loads(raw: bytes | str) -> Any:
    # The stdlib parser with parse_float=Decimal keeps money exact; orjson and pydantic's
    # JSON mode both go through binary floats.
    return json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)


def _epoch_ms(value: Any) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise PoisonEvent(f"Debezium ts_ms {value} is not a representable time") from None
    return None


def _unwrap(value: bytes | None) -> _Unwrapped:
    if value is None:
        return _Unwrapped(None, True, None)
    try:
        doc = _loads(value)
        if isinstance(doc, str):  # Outbox router: the payload is a JSON string.
            doc = _loads(doc)
        if isinstance(doc, dict) and "schema" in doc and "payload" in doc:
            doc = doc["payload"]
            if isinstance(doc, str):
                doc = _loads(doc)
    except (ValueError, UnicodeDecodeError) as error:
        raise PoisonEvent(f"invalid JSON: {error}") from None
    except RecursionError:
        raise PoisonEvent("invalid JSON: nested too deeply") from None
    if doc is None:
        return _Unwrapped(None, True, None)
    if not isinstance(doc, dict):
        raise PoisonEvent(f"expected a JSON object, got {type(doc).__name__}")
    if "op" in doc and ("after" in doc or "before" in doc):
        return _unwrap_debezium(doc)
    return _Unwrapped(doc, False, None)


def _unwrap_debezium(doc: dict[str, Any]) -> _Unwrapped:
    op = doc["op"]
    source_time = _epoch_ms(doc.get("ts_ms"))
    if op in ("c", "r", "u"):
        after = doc.get("after")
        if not isinstance(after, dict):
            raise PoisonEvent(f"Debezium op {op!r} without an 'after' object")
        return _Unwrapped(after, False, source_time)
    if op == "d":
        before = doc.get("before")
        return _Unwrapped(before if isinstance(before, dict) else None, True, source_time)
    raise PoisonEvent(f"unknown Debezium op {op!r}")


def _key_id(key: bytes | None, field: str) -> str:
    if not key:
        raise PoisonEvent("delete without a record key naming the product")
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        raise PoisonEvent("record key is not UTF-8") from None
    try:
        parsed = _loads(text)
    except (ValueError, RecursionError):
        return text
    if isinstance(parsed, dict) and "payload" in parsed:
        parsed = parsed["payload"]
    if isinstance(parsed, dict):
        parsed = parsed.get(field)
    if isinstance(parsed, str | int) and not isinstance(parsed, bool) and str(parsed):
        return str(parsed)
    raise PoisonEvent(f"record key does not name a {field}")


def _validate(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or '<root>'}: {item['msg']}"
            for item in error.errors(include_url=False)
        )
        raise PoisonEvent(f"{model.__name__} failed validation: {problems}") from None


def _delete_event(kind: SourceKind, key: bytes | None, unwrapped: _Unwrapped) -> Event:
    data = unwrapped.data or {}
    if kind is SourceKind.REVIEWS and unwrapped.data is not None:
        merged = {**data, "deleted": True}
        if unwrapped.source_time is not None:
            merged["updated_at"] = unwrapped.source_time
        return _validate(ReviewUpserted, merged)
    if kind not in (SourceKind.CATALOG, SourceKind.PRICES):
        raise PoisonEvent(f"a delete means nothing on a {kind.value} topic")
    product_id = data.get("product_id")
    if not isinstance(product_id, str) or not product_id:
        product_id = _key_id(key, "product_id")
    deletion = {"product_id": product_id, "deleted_at": unwrapped.source_time}
    if kind is SourceKind.CATALOG:
        return _validate(CatalogDeletion, deletion)
    return _validate(PriceDeletion, deletion)


def _upsert_event(kind: SourceKind, data: dict[str, Any]) -> Event:
    match kind:
        case SourceKind.CATALOG:
            return _validate(CatalogSnapshot, data)
        case SourceKind.PRICES:
            return _validate(PriceSnapshot, data)
        case SourceKind.INVENTORY:
            if "quantity_change" in data:
                return _validate(InventoryDelta, data)
            if "quantity" in data:
                return _validate(StockTake, data)
            raise PoisonEvent("inventory event has neither 'quantity_change' nor 'quantity'")
        case SourceKind.ORDERS:
            return _validate(OrderPlaced, data)
        case SourceKind.CLICKS:
            return _validate(ProductViewed, data)
        case SourceKind.REVIEWS:
            return _validate(ReviewUpserted, data)


def _event_id(headers: Sequence[tuple[str, bytes]]) -> str | None:
    for name, value in headers:
        if name == "id" and value:
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                raise PoisonEvent("'id' header is not UTF-8") from None
    return None


def decode_record(
    kind: SourceKind,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]] = (),
) -> DecodedRecord:
    """Decode one Kafka record of a source topic.

    Args:
        kind: What the topic carries.
        key: The record key.
        value: The record value; ``None`` is a tombstone.
        headers: The record headers; an ``id`` header is the source's event id.

    Returns:
        The event and the source's event id.

    Raises:
        PoisonEvent: When the record can never be applied.
    """
    unwrapped = _unwrap(value)
    if unwrapped.is_delete:
        event = _delete_event(kind, key, unwrapped)
    else:
        assert unwrapped.data is not None
        event = _upsert_event(kind, unwrapped.data)
    return DecodedRecord(event, _event_id(headers))
