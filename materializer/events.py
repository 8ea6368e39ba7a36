"""The source events the materializer understands, validated from decoded JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
)


def _to_utc_millis(value: datetime) -> datetime:
    # MongoDB keeps milliseconds; truncating here makes a stored value compare equal to
    # the event it came from, which the snapshot ordering relies on.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        # 9999-12-31T23:59:59-01:00 is after year 9999 in UTC. Pydantic turns only
        # ValueError into a validation error; anything else would escape validation.
        raise ValueError("time is out of range once converted to UTC") from None
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _encodable(value: str) -> str:
    # JSON can spell a lone surrogate ("\ud800"), which no UTF-8 encoder (BSON's, the
    # changelog's) accepts; refused here, it is this record's problem, not the write's.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text is not valid Unicode (lone surrogate)") from None
    return value


# Decimal128, MongoDB's decimal, holds 34 significant digits and exponents to 6111;
# anything beyond would fail at write time, so it is refused at the door.
_DECIMAL128_DIGITS = 34
_DECIMAL128_EXPONENT = 6111
# Stock counts and the like are stored as 64-bit integers; a billion is plenty.
_MAX_QUANTITY = 10**9


def _storable_decimal(value: Decimal) -> Decimal:
    sign, digits, exponent = value.as_tuple()
    if (
        not value.is_finite()
        or len(digits) > _DECIMAL128_DIGITS
        or not isinstance(exponent, int)
        or abs(exponent) > _DECIMAL128_EXPONENT
    ):
        raise ValueError(f"not storable as a 34-digit decimal: {value}")
    return value


def _finite_money(value: Decimal) -> Decimal:
    if not value.is_finite() or value < 0:
        raise ValueError("money must be a finite, non-negative decimal")
    return _storable_decimal(value)


Timestamp = Annotated[datetime, AfterValidator(_to_utc_millis)]
Text = Annotated[StrictStr, AfterValidator(_encodable)]
Money = Annotated[Decimal, Field(allow_inf_nan=False), AfterValidator(_finite_money)]
Quantity = Annotated[StrictInt, Field(ge=-_MAX_QUANTITY, le=_MAX_QUANTITY)]
ProductId = Annotated[Text, Field(min_length=1, max_length=256)]
# Segment names become MongoDB field names, so they are restricted to a safe alphabet.
SegmentName = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class CatalogSnapshot(_Event):
    """The full catalog record of a product."""

    product_id: ProductId
    name: Text
    description: Text = ""
    brand: Text | None = None
    category: Text | None = None
    images: list[Text] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
    updated_at: Timestamp

    @field_validator("attributes")
    @classmethod
    def _attributes_are_scalars(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            _encodable(key)
            if isinstance(item, str):
                _encodable(item)
            if not isinstance(item, str | int | float | bool | Decimal) and item is not None:
                raise ValueError(f"attribute {key!r} must be a scalar")
            if isinstance(item, Decimal):
                _storable_decimal(item)
            elif isinstance(item, int) and not -(2**63) <= item < 2**63:
                raise ValueError(f"attribute {key!r} does not fit in 64 bits")
        return value


class CatalogDeletion(_Event):
    """A product left the catalog (tombstone or CDC delete)."""

    product_id: ProductId
    deleted_at: Timestamp | None = None


class PriceSnapshot(_Event):
    """The current price of a product."""

    product_id: ProductId
    currency: Annotated[Text, Field(min_length=3, max_length=3)]
    amount: Money
    list_amount: Money | None = None
    segment_amounts: dict[SegmentName, Money] = Field(default_factory=dict)
    updated_at: Timestamp


class PriceDeletion(_Event):
    """A product's price was withdrawn (tombstone or CDC delete)."""

    product_id: ProductId
    deleted_at: Timestamp | None = None


class InventoryDelta(_Event):
    """A change of the stock level, as the stock service publishes it."""

    product_id: ProductId
    quantity_change: Quantity
    timestamp: Timestamp


class StockTake(_Event):
    """A counted stock level that replaces the current one."""

    product_id: ProductId
    quantity: Quantity
    timestamp: Timestamp


class OrderPlaced(_Event):
    """An order; counts one order for each listed product."""

    order_id: Annotated[Text, Field(min_length=1, max_length=256)]
    user_id: Text | None = None
    product_ids: Annotated[list[ProductId], Field(min_length=1, max_length=1000)]
    amount: Decimal | None = None
    timestamp: Timestamp


class ProductViewed(_Event):
    """A click on a product page."""

    user_id: Text | None = None
    product_id: ProductId
    timestamp: Timestamp


class ReviewUpserted(_Event):
    """A review was written, edited or deleted."""

    review_id: Annotated[Text, Field(min_length=1, max_length=256)]
    product_id: ProductId
    rating: Annotated[StrictInt, Field(ge=1, le=5)]
    deleted: StrictBool = False
    updated_at: Timestamp


Event = (
    CatalogSnapshot
    | CatalogDeletion
    | PriceSnapshot
    | PriceDeletion
    | InventoryDelta
    | StockTake
    | OrderPlaced
    | ProductViewed
    | ReviewUpserted
)


def product_ids_of(event: Event) -> tuple[str, ...]:
    """The products an event touches (an order touches several)."""
    if isinstance(event, OrderPlaced):
        return tuple(dict.fromkeys(event.product_ids))
    return (event.product_id,)


def event_time(event: Event) -> datetime | None:
    """When the source says the event happened, if it says."""
    match event:
        case CatalogSnapshot() | PriceSnapshot() | ReviewUpserted():
            return event.updated_at
        case CatalogDeletion() | PriceDeletion():
            return event.deleted_at
        case _:
            return event.timestamp


@dataclass(frozen=True, slots=True)
class Position:
    """Where a record sits in the log."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class SourcedEvent:
    """A decoded event with its log position and, when the source gives one, its id."""

    event: Event
    position: Position
    event_id: str | None = None
