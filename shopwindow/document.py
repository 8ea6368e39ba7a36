"""The SaleProduct document contract shared by the materializer and the gateway.

The materializer stores one document per product in the ``sale_products`` collection:

    {_id, schema_version, version, updated_at, materialized_at, visible,
     <section>: ...,            # one per declared source: catalog, price, stock, ...
     _meta: {revision, applied, ids, keys, pending}}   # the fold's bookkeeping, never served

``StoredDocument`` types the common part; each source types its own section. Money is
``Decimal`` in Python and ``Decimal128`` in MongoDB. The public view is the document
without ``_meta`` and without sections no installed source declares; it is what the
changelog topic carries.

**Schema versions.** ``SCHEMA_VERSION`` names the contract this code writes. A document
of an older contract is upgraded by ``upgrade`` whenever it is read, and written back in
the new one the next time it changes. A document of a newer contract was written by a
newer materializer (a rolling upgrade under way): it is never rewritten by older code.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson

# pydantic validates TypedDicts from typing_extensions only, before Python 3.12.
from typing_extensions import TypedDict

COLLECTION = "sale_products"
META = "_meta"
SCHEMA_VERSION = 3
# In _meta of a document upgraded on reading: the version it is stored in. Never written.
UPGRADED_FROM = "upgraded_from"
# The fields every document has, whatever sources are installed.
COMMON_FIELDS = ("_id", "schema_version", "version", "updated_at", "materialized_at", "visible")


class Meta(TypedDict):
    """The fold's bookkeeping in ``_meta``.

    Attributes:
        revision: Bumped by every write; guards the next one (optimistic concurrency).
        applied: Per escaped ``topic:partition``, the offset of the last record applied.
        ids: The most recent source event ids applied.
        keys: Per section, the ordering key ``[time, partition, offset]`` of its snapshot.
        pending: Per keyed state, the entries written with this document and not yet
            confirmed in the state's own collection.
    """

    revision: int
    applied: dict[str, int]
    ids: list[str]
    keys: dict[str, list[Any] | None]
    pending: dict[str, dict[str, dict[str, Any]]]


class StoredDocument(TypedDict):
    """The common part of a stored SaleProduct; sections are typed by their sources."""

    _id: str
    schema_version: int
    version: int
    updated_at: datetime | None
    materialized_at: datetime | None
    visible: bool
    _meta: Meta


class NewerSchemaVersion(Exception):
    """A document was written under a newer contract than this code knows.

    Args:
        product_id: The document's id.
        found: Its ``schema_version``.
    """

    def __init__(self, product_id: Any, found: Any) -> None:
        super().__init__(
            f"document {product_id!r} has schema_version {found!r}; this version of "
            f"shopwindow reads up to {SCHEMA_VERSION}: a newer materializer wrote it"
        )
        self.product_id = product_id
        self.found = found


def _upgrade_1_to_2(doc: dict[str, Any]) -> None:
    # Ordering keys moved under _meta.keys, per section; per-review state moved out of the
    # document into the reviews collection. It travels there as pending entries, which
    # the next write of the document flushes.
    meta = doc.get(META)
    if meta is None:
        return  # A public view: nothing else changed for readers.
    meta["keys"] = {"catalog": meta.pop("catalog_key", None), "price": meta.pop("price_key", None)}
    reviews = meta.pop("reviews", None) or {}
    meta["pending"] = (
        {
            "reviews": {
                key: {
                    "id": unescape_key(key),
                    "product_id": doc["_id"],
                    "rating": entry["rating"],
                    "deleted": entry["deleted"],
                    "key": entry["key"],
                }
                for key, entry in reviews.items()
            }
        }
        if reviews
        else {}
    )


def _upgrade_2_to_3(doc: dict[str, Any]) -> None:
    # Variants: a v2 product is one default variant, whose price and stock stay where
    # they were (``price``, ``stock``); no SKU has a price or stock of its own yet. Units
    # sold were not counted: each order counted one, as it still does without lines.
    catalog = doc.get("catalog")
    if isinstance(catalog, dict):
        catalog.setdefault("options", [])
        catalog.setdefault("variants", [])
    doc.setdefault("variant_prices", {})
    doc.setdefault("variant_stock", {})
    popularity = doc.get("popularity")
    if isinstance(popularity, dict):
        popularity.setdefault("units", popularity.get("orders", 0))


# upgrade from version N to N + 1, by N.
_UPGRADES = {1: _upgrade_1_to_2, 2: _upgrade_2_to_3}


def upgrade(doc: dict[str, Any]) -> dict[str, Any]:
    """Bring a document of any older contract to ``SCHEMA_VERSION``, in place.

    A document without ``schema_version`` was written before versions existed (1).

    Raises:
        NewerSchemaVersion: When it is newer than ``SCHEMA_VERSION`` (or not a version).
    """
    found = doc.get("schema_version", 1)
    if not isinstance(found, int) or isinstance(found, bool) or found > SCHEMA_VERSION:
        raise NewerSchemaVersion(doc.get("_id"), found)
    for version in range(found, SCHEMA_VERSION):
        _UPGRADES[version](doc)
    if found != SCHEMA_VERSION and META in doc:
        # The stored document still has the old shape: its next write replaces it whole.
        doc[META][UPGRADED_FROM] = found
    doc["schema_version"] = SCHEMA_VERSION
    return doc


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


def unescape_key(escaped: str) -> str:
    """The string ``escape_key`` made ``escaped`` from."""
    for plain, escaped_form in reversed(_ESCAPES):
        escaped = escaped.replace(escaped_form, plain)
    return escaped


def public_view(doc: Mapping[str, Any], sections: Collection[str]) -> dict[str, Any]:
    """The document as clients may see it: the common fields and the declared sections.

    Sections of removed sources stay in stored documents, hidden.
    """
    return {key: value for key, value in doc.items() if key in sections or key in COMMON_FIELDS}


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # Exact: money never becomes a binary float on the wire.
    raise TypeError(f"cannot serialize {type(value).__name__}")


def encode_changelog_value(doc: Mapping[str, Any], sections: Collection[str]) -> bytes:
    """Serialize the public view of a document for the changelog topic."""
    return orjson.dumps(public_view(doc, sections), default=_json_default)


def decode_changelog_value(raw: bytes) -> dict[str, Any]:
    """Parse a changelog value; read it with ``sale_product.read_sale_product``.

    Raises:
        ValueError: When the value is not a changelog document.
    """
    doc = orjson.loads(raw)
    if not isinstance(doc, dict) or "_id" not in doc or not isinstance(doc.get("version"), int):
        raise ValueError("not a SaleProduct changelog document")
    return doc


def parse_time(value: Any) -> datetime | None:
    """A time as stored (``datetime``) or announced (ISO 8601 text)."""
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value if isinstance(value, datetime) else None


def parse_decimal(value: Any) -> Decimal | None:
    """Money as stored (``Decimal``) or announced (exact decimal text)."""
    return None if value is None else Decimal(value) if isinstance(value, str) else value


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
