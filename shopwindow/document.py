"""The SaleProduct document contract shared by the materializer and the gateway.

The materializer stores one document per product in the ``sale_products`` collection:

    {_id, version, updated_at, visible,
     catalog: {name, description, brand, category, images, attributes, updated_at} | None,
     price: {currency, amount, list_amount, segment_amounts, discount_percent, updated_at}
            | None,
     stock: {quantity, available, status, updated_at},
     rating: {average, count, sum},
     popularity: {views, orders},
     _meta: {...}}                      # bookkeeping of the fold, never served

Money is ``Decimal`` in Python and ``Decimal128`` in MongoDB. The public view is the
document without ``_meta``; it is what the changelog topic carries.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson

COLLECTION = "sale_products"
META = "_meta"
_CENT = Decimal("0.01")

# MongoDB's limit on one document (BSON), the same on every deployment.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
# The changelog value is the public view as JSON. The materializer writes no document
# whose value is larger, so every stored document can be announced.
MAX_CHANGELOG_VALUE_BYTES = MAX_DOCUMENT_BYTES
# What a changelog or dead-letter record may add around its value (key, headers, batch
# framing). Producer requests and the topics' max.message.bytes allow a whole record.
MAX_RECORD_BYTES = MAX_CHANGELOG_VALUE_BYTES + 1024 * 1024

# Map keys in MongoDB must not contain "." or NUL, nor start with "$"; ids may.
_ESCAPES = (("%", "%25"), (".", "%2E"), ("$", "%24"), ("\x00", "%00"))


class StockStatus(enum.Enum):
    """Stock level as the product page shows it."""

    IN_STOCK = "IN_STOCK"
    LOW_STOCK = "LOW_STOCK"
    OUT_OF_STOCK = "OUT_OF_STOCK"


def escape_key(raw: str) -> str:
    """Make any string safe as a MongoDB field name (the escaping is reversible)."""
    for plain, escaped in _ESCAPES:
        raw = raw.replace(plain, escaped)
    return raw


def public_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The document as clients may see it: everything but the fold's bookkeeping."""
    return {key: value for key, value in doc.items() if key != META}


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # Exact: money never becomes a binary float on the wire.
    raise TypeError(f"cannot serialize {type(value).__name__}")


def encode_changelog_value(doc: Mapping[str, Any]) -> bytes:
    """Serialize the public view of a document for the changelog topic."""
    return orjson.dumps(public_view(doc), default=_json_default)


def decode_changelog_value(raw: bytes) -> dict[str, Any]:
    """Parse a changelog value back into a document (money as ``Decimal``, times as
    aware ``datetime``).

    Raises:
        ValueError: When the value is not a changelog document.
    """
    doc = orjson.loads(raw)
    if not isinstance(doc, dict) or "_id" not in doc or "version" not in doc:
        raise ValueError("not a SaleProduct changelog document")
    price = doc.get("price")
    if isinstance(price, dict):
        for field in ("amount", "list_amount", "discount_percent"):
            if price.get(field) is not None:
                price[field] = Decimal(price[field])
        price["segment_amounts"] = {
            segment: Decimal(amount)
            for segment, amount in (price.get("segment_amounts") or {}).items()
        }
        price["updated_at"] = _parse_time(price.get("updated_at"))
    stock = doc.get("stock")
    if isinstance(stock, dict):
        stock["updated_at"] = _parse_time(stock.get("updated_at"))
    doc["updated_at"] = _parse_time(doc.get("updated_at"))
    return doc


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def discount_percent(amount: Decimal, list_amount: Decimal | None) -> Decimal | None:
    """How much below its list price a product sells, in percent with two decimals.

    Returns:
        ``None`` without a list price; ``0.00`` when the price is not below it.
    """
    if list_amount is None or list_amount == 0:
        return None
    if amount >= list_amount:
        return Decimal("0.00")
    return ((list_amount - amount) * 100 / list_amount).quantize(_CENT, ROUND_HALF_UP)
