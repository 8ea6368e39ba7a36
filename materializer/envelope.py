"""Taking the envelope off a source record, whatever shape the producer used.

Accepted shapes: plain JSON; the Debezium envelope (``before``/``after``/``op``/``ts_ms``)
with or without its ``schema``/``payload`` wrapper; and the Debezium outbox event router's
output (payload as a JSON string, event id in the ``id`` header). Anything else raises
``PoisonEvent`` with a reason fit for the dead-letter topic. Every source's decoders
start from the ``Envelope`` this returns.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shopwindow.materializer.errors import PoisonEvent

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Envelope:
    """A record with its envelope taken off.

    Attributes:
        data: The row or payload; ``None`` for a delete whose row image is absent.
        is_delete: A tombstone or a Debezium delete.
        source_time: Debezium's ``ts_ms``, when given.
        key: The record key, which names the entity of a delete without a row image.
        before: A Debezium update's row image before the change, when the connector
            sends one (PostgreSQL needs ``REPLICA IDENTITY FULL`` for it): how a source
            sees that a row moved from one product to another.
    """

    data: dict[str, Any] | None
    is_delete: bool
    source_time: datetime | None
    key: bytes | None = None
    before: dict[str, Any] | None = None


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


def unwrap(key: bytes | None, value: bytes | None) -> Envelope:
    """Take the envelope off a record value.

    Raises:
        PoisonEvent: When the value is not JSON, or not an object or a known envelope.
    """
    if value is None:
        return Envelope(None, True, None, key)
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
        return Envelope(None, True, None, key)
    if not isinstance(doc, dict):
        raise PoisonEvent(f"expected a JSON object, got {type(doc).__name__}")
    if "op" in doc and ("after" in doc or "before" in doc):
        return _unwrap_debezium(doc, key)
    return Envelope(doc, False, None, key)


def _unwrap_debezium(doc: dict[str, Any], key: bytes | None) -> Envelope:
    op = doc["op"]
    source_time = _epoch_ms(doc.get("ts_ms"))
    if op in ("c", "r", "u"):
        after = doc.get("after")
        if not isinstance(after, dict):
            raise PoisonEvent(f"Debezium op {op!r} without an 'after' object")
        before = doc.get("before") if op == "u" else None
        return Envelope(
            after, False, source_time, key, before=before if isinstance(before, dict) else None
        )
    if op == "d":
        before = doc.get("before")
        return Envelope(before if isinstance(before, dict) else None, True, source_time, key)
    raise PoisonEvent(f"unknown Debezium op {op!r}")


def key_id(key: bytes | None, field: str) -> str:
    """The id a record key holds: plain text, a JSON value or Debezium's key struct.

    Raises:
        PoisonEvent: When the key names nothing.
    """
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


def validate(model: type[M], data: dict[str, Any]) -> M:
    """Validate ``data`` as ``model``; a failure is a ``PoisonEvent`` naming each problem."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or '<root>'}: {item['msg']}"
            for item in error.errors(include_url=False)
        )
        raise PoisonEvent(f"{model.__name__} failed validation: {problems}") from None


def event_id_header(headers: Sequence[tuple[str, bytes]]) -> str | None:
    """The outbox event id (``id`` header), if the record has one."""
    for name, value in headers:
        if name == "id" and value:
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                raise PoisonEvent("'id' header is not UTF-8") from None
    return None


def deleted_product_id(envelope: Envelope) -> str:
    """The product a delete concerns: from its row image, else from the record key.

    Raises:
        PoisonEvent: When neither names one.
    """
    data = envelope.data or {}
    product_id = data.get("product_id")
    if isinstance(product_id, str) and product_id:
        return product_id
    return key_id(envelope.key, "product_id")
