"""What every source's events are made of: field types that refuse what MongoDB or the
changelog could not store, and the position and identity of a decoded event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
)

from shopwindow import codes

if TYPE_CHECKING:
    from shopwindow.materializer.sources.base import Source, SourceTopic


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


def encodable(value: str) -> str:
    """``value`` if UTF-8 can encode it.

    Raises:
        ValueError: For a lone surrogate.
    """
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
MAX_QUANTITY = 10**9


def storable_decimal(value: Decimal) -> Decimal:
    """``value`` if MongoDB's Decimal128 can hold it exactly.

    Raises:
        ValueError: For infinities, NaN, more than 34 digits or too large an exponent.
    """
    sign, digits, exponent = value.as_tuple()
    if (
        not value.is_finite()
        or len(digits) > _DECIMAL128_DIGITS
        or not isinstance(exponent, int)
        or abs(exponent) > _DECIMAL128_EXPONENT
    ):
        raise ValueError(f"not storable as a 34-digit decimal: {value}")
    return value


# No shop charges a trillion for one thing, nor prices beyond millionths: unit prices
# in B2B catalogs go to six places, ISO 4217's minor units to four. Anything wider is a
# producer's bug (``1e400`` was once stored and served as ``1E+400``).
MAX_MONEY_INTEGER_DIGITS = 12
MAX_MONEY_FRACTION_DIGITS = 6
_MONEY_QUANTUM = Decimal(1).scaleb(-MAX_MONEY_FRACTION_DIGITS)


def money(value: Decimal) -> Decimal:
    """``value`` as a shop's amount: finite, non-negative, in plain notation.

    Exponent notation is accepted when the amount fits (``1E+2`` is stored as ``100``);
    trailing zeros beyond six places are dropped (``1.50000000`` is ``1.500000``).

    Raises:
        ValueError: For NaN, infinities, negative amounts, more than twelve digits before
            the point or more than six significant ones after it.
    """
    if not value.is_finite() or value < 0:
        raise ValueError("money must be a finite, non-negative decimal")
    value = value.copy_abs()  # -0 is 0
    if not value.is_zero() and value.adjusted() >= MAX_MONEY_INTEGER_DIGITS:
        raise ValueError(f"money has more than {MAX_MONEY_INTEGER_DIGITS} digits before the point")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent > 0:
        value = value.quantize(Decimal(1))
    elif exponent < -MAX_MONEY_FRACTION_DIGITS:
        rounded = value.quantize(_MONEY_QUANTUM)
        if rounded != value:
            raise ValueError(
                f"money has more than {MAX_MONEY_FRACTION_DIGITS} digits after the point"
            )
        value = rounded
    return value


Timestamp = Annotated[datetime, AfterValidator(_to_utc_millis)]
Text = Annotated[StrictStr, AfterValidator(encodable)]
Money = Annotated[Decimal, Field(allow_inf_nan=False), AfterValidator(money)]
CurrencyCode = Annotated[StrictStr, AfterValidator(codes.currency)]
Quantity = Annotated[StrictInt, Field(ge=-MAX_QUANTITY, le=MAX_QUANTITY)]
ProductId = Annotated[Text, Field(min_length=1, max_length=256)]
# Segment names become MongoDB field names, so they are restricted to a safe alphabet.
SegmentName = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class SourceEvent(BaseModel):
    """Base of every source's events: frozen, unknown fields ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


@dataclass(frozen=True, slots=True)
class Position:
    """Where a record sits in the log."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class SourcedEvent:
    """A decoded event with its source, its log position and, when the source gives one,
    its id."""

    event: BaseModel
    position: Position
    source: Source[Any]
    topic: SourceTopic
    event_id: str | None = None

    @property
    def time(self) -> datetime | None:
        """When the source says the event happened, if it says."""
        return self.topic.event_time(self.event)
