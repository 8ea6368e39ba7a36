"""Prices: what a product costs, its list price and the prices of customer segments.

Snapshots (``pricing.prices``, often through the outbox) replace the section whole,
newest event time first; a delete withdraws the price. ``Product.price`` is what the
viewer pays: their segment's price when there is one.

A record that names a ``sku`` is that variant's price, kept in ``variant_prices`` by
SKU with the same newest-first rule per SKU; it overrides the product's price for that
variant. A CDC delete whose row names a SKU withdraws that SKU's price; a tombstone,
keyed by the product, withdraws the product's.

A record that names a ``market`` (``shopwindow.markets``) is that market's price, of the
product or of the SKU it names. It is kept among the same entries under a key no SKU's
entry can have (``market_entry_key``), with the same rule per market and SKU. A record
that names no market, or the default market, is the default market's: the ``price``
section and the SKU entries of before markets, so their documents stay as they were. A
market the markets file does not declare dead-letters the record. A CDC delete whose row
names a market withdraws that market's price.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import strawberry
from pydantic import Field, model_validator

from shopwindow.document import discount_percent, escape_key, parse_decimal
from shopwindow.markets import MarketId
from shopwindow.materializer.envelope import Envelope, validate
from shopwindow.materializer.errors import PoisonEvent
from shopwindow.materializer.events import (
    CurrencyCode,
    Money,
    ProductId,
    SegmentName,
    SourceEvent,
    Timestamp,
)
from shopwindow.materializer.sources import price_history, price_schedule
from shopwindow.materializer.sources.base import Effect, FoldStep, Source, SourceTopic
from shopwindow.materializer.sources.snapshots import (
    SnapshotDeletion,
    snapshot_decoder,
    snapshot_fold,
    snapshot_time,
)
from shopwindow.materializer.sources.variants import Sku

if TYPE_CHECKING:
    from shopwindow.materializer.fold import FoldSettings


class PriceSnapshot(SourceEvent):
    """The current price of a product, or of one of its variants, in one market."""

    product_id: ProductId
    sku: Sku | None = None
    market: MarketId | None = None
    currency: CurrencyCode
    amount: Money
    list_amount: Money | None = None
    segment_amounts: dict[SegmentName, Money] = Field(default_factory=dict)
    updated_at: Timestamp
    valid_from: Timestamp | None = None
    valid_until: Timestamp | None = None

    @model_validator(mode="before")
    @classmethod
    def _starts_now(cls, data: Any) -> Any:
        # A price valid only until a moment applies from its own time on.
        if isinstance(data, dict) and data.get("valid_until") is not None:
            if data.get("valid_from") is None:
                return {**data, "valid_from": data.get("updated_at")}
        return data

    @model_validator(mode="after")
    def _window(self) -> PriceSnapshot:
        if self.valid_from is not None and self.valid_until is not None:
            if self.valid_until <= self.valid_from:
                raise ValueError("valid_until must be after valid_from")
        return self


class PriceDeletion(SnapshotDeletion):
    """A product's price, or a variant's, was withdrawn (tombstone or CDC delete); with
    ``valid_from``, the scheduled price starting then."""

    sku: Sku | None = None
    market: MarketId | None = None
    valid_from: Timestamp | None = None
    valid_until: Timestamp | None = None


_decode_snapshot = snapshot_decoder(PriceSnapshot, PriceDeletion)


def decode(envelope: Envelope) -> PriceSnapshot | PriceDeletion:
    """A price or a withdrawal; a deleted row that names a SKU withdraws that SKU's."""
    event = _decode_snapshot(envelope)
    row = envelope.data or {}
    named = ("sku", "market", "valid_from", "valid_until")
    if isinstance(event, PriceDeletion) and any(row.get(name) is not None for name in named):
        return validate(
            PriceDeletion,
            {
                "product_id": event.product_id,
                "deleted_at": event.deleted_at,
                **{name: row.get(name) for name in named},
            },
        )
    return event


def content(snapshot: PriceSnapshot) -> dict[str, Any]:
    """The price section a snapshot sets."""
    return {
        "currency": snapshot.currency,
        "amount": snapshot.amount,
        "list_amount": snapshot.list_amount,
        "segment_amounts": dict(snapshot.segment_amounts),
    }


_fold_product_price = snapshot_fold(content)


def market_entry_key(market: str, sku: str | None) -> str:
    """The field name of a market's price among the SKU entries: ``%M<market>:`` and
    the escaped SKU (nothing for the product's own). An escaped SKU never holds ``%M``
    (``escape_key`` writes ``%`` as ``%25``), and a market id never holds ``:``, so no
    two prices share a key."""
    return f"%M{market}:{escape_key(sku or '')}"


# The prior price the fold derives from a price's history, stored beside the price.
PRIOR = "lowest_price_30d"


def history_key(market: str | None, sku: str | None) -> str:
    """Where a price's history is kept in ``price_history``: the price's entry key, or
    ``%P`` for the default market's product price (no SKU's key starts with ``%``)."""
    if market is not None:
        return market_entry_key(market, sku)
    return escape_key(sku) if sku is not None else "%P"


def fold(step: FoldStep, event: Any) -> Effect:
    """Replace (or withdraw) the product's price, or the price of the SKU it names, in
    the market it names, and record it in that price's history (``price_history``),
    late or not.

    Raises:
        PoisonEvent: For a market the markets file does not declare.
    """
    market = event.market
    if market is not None and market not in step.settings.markets:
        raise PoisonEvent(f"unknown market {market!r}: not in the markets file")
    if market == step.settings.default_market:
        market = None
    if event.valid_from is not None:
        return _fold_scheduled(step, event, market)
    effect = _fold_price(step, event, market)
    return max(effect, _record(step, event, market), key=lambda e: e.value)


def _record(step: FoldStep, event: Any, market: str | None) -> Effect:
    """Add the event to its price's history, and store the prior price it makes beside
    the current price (``lowest_price_30d``), even when the event itself is too old to
    be the current one."""
    key = history_key(market, event.sku)
    before = price_history.read_history(step.history.get(key))
    deleted = isinstance(event, PriceDeletion)
    # A withdrawal without a time of its own follows the price it withdraws.
    time = event.deleted_at if deleted else event.updated_at
    if time is None:
        if not before.records:
            return Effect.NONE
        time = before.records[-1][0]
    amount = None if deleted else event.amount
    after = price_history.with_record(
        before, step.ordering_key(time), amount, keep_from=_earliest_scheduled(step, key)
    )
    if after == before:
        return Effect.NONE
    step.history[key] = after.stored()
    effect = _reprice_scheduled(step, key, after)
    current = _current(step, market, event.sku)
    if current is None:
        return max(Effect.META, effect, key=lambda e: e.value)
    lowest = price_history.lowest_prior(after)
    if current.get(PRIOR) == lowest:
        return max(Effect.META, effect, key=lambda e: e.value)
    current[PRIOR] = lowest
    return Effect.PUBLIC


def _earliest_scheduled(step: FoldStep, slot: str) -> datetime | None:
    """When the slot's earliest scheduled price begins: its 30 days stay in the history."""
    starts = [
        price_schedule.window_of(entry).valid_from
        for entry in step.entries.values()
        if entry.get("slot") == slot and not entry.get("deleted")
    ]
    return min(starts, default=None)


def _reprice_scheduled(step: FoldStep, slot: str, history: price_history.History) -> Effect:
    """Recompute the prior price of the slot's scheduled prices after its history
    changed: a late record can change what was in force before one begins."""
    effect = Effect.NONE
    for name, entry in tuple(step.entries.items()):
        if entry.get("slot") != slot or entry.get("deleted"):
            continue
        lowest = _scheduled_prior(history, entry)
        if entry.get(PRIOR) != lowest:
            step.entries[name] = {**entry, PRIOR: lowest}
            effect = Effect.PUBLIC
    return effect


def _scheduled_prior(history: price_history.History, entry: Mapping[str, Any]) -> Decimal | None:
    amount = parse_decimal(entry["amount"])
    assert amount is not None
    began = price_schedule.window_of(entry).valid_from
    return price_history.lowest_before(history, began, amount)


def _fold_scheduled(step: FoldStep, event: Any, market: str | None) -> Effect:
    """Keep (or withdraw) a scheduled price beside its slot's price.

    Raises:
        PoisonEvent: When the slot already has ``MAX_SCHEDULED`` that have not ended.
    """
    slot = history_key(market, event.sku)
    key = price_schedule.entry_key(slot, event.valid_from)
    deleted = isinstance(event, PriceDeletion)
    time = event.deleted_at if deleted else event.updated_at
    stored = step.entries.get(key)
    if time is None:  # A withdrawal without a time of its own follows what it withdraws.
        time = stored["key"][0] if stored is not None else event.valid_from
    if not price_schedule.admit(step.entries, slot, key, time):
        raise PoisonEvent(
            f"more than {price_schedule.MAX_SCHEDULED} scheduled prices for one price "
            f"(market {market or 'default'}, sku {event.sku!r}) that have not ended"
        )
    window = {
        "slot": slot,
        "market": market,
        "sku": event.sku,
        "valid_from": event.valid_from,
        "valid_until": event.valid_until,
    }
    entry = None
    if not deleted:
        entry = content(event) | window
        entry["discount_percent"] = discount_percent(event.amount, event.list_amount)
        history = price_history.read_history(step.history.get(slot))
        entry[PRIOR] = _scheduled_prior(history, entry)
    effect = step.replace_entry(event.sku or "", entry, time, stored_key=key)
    marker = step.entries.get(key)
    if deleted and marker is not None and marker.get("deleted"):
        # The marker keeps its window, so that it is dropped once the window ends.
        step.entries[key] = {**marker, **window}
    return effect


def _current(step: FoldStep, market: str | None, sku: str | None) -> dict[str, Any] | None:
    """The current price of a slot, copied in place for writing; ``None`` if withdrawn."""
    if market is None and sku is None:
        section: dict[str, Any] | None = step.section
        return section
    stored_key = market_entry_key(market, sku) if market is not None else escape_key(sku or "")
    entry = step.entries.get(stored_key)
    if entry is None or entry.get("deleted"):
        return None
    entry = dict(entry)  # entries are shared with the stored document until changed
    step.entries[stored_key] = entry
    return entry


def _fold_price(step: FoldStep, event: Any, market: str | None) -> Effect:
    deleted = isinstance(event, PriceDeletion)
    time = event.deleted_at if deleted else event.updated_at
    entry = None
    if not deleted:
        entry = content(event)
        entry["discount_percent"] = discount_percent(event.amount, event.list_amount)
    if market is not None:
        if entry is not None:
            entry |= {"market": market, "sku": event.sku}
        key = market_entry_key(market, event.sku)
        return step.replace_entry(event.sku or "", entry, time, stored_key=key)
    if event.sku is None:
        return _fold_product_price(step, event)
    return step.replace_entry(event.sku, entry, time)


def derive(section: dict[str, Any] | None, settings: FoldSettings) -> None:
    """The discount against the list price, stored so every reader agrees on it."""
    if section is not None:
        section["discount_percent"] = discount_percent(section["amount"], section["list_amount"])


@dataclass(frozen=True, slots=True)
class StoredPrice:
    """The price section, typed."""

    currency: str
    amount: Decimal
    list_amount: Decimal | None
    discount_percent: Decimal | None
    segment_amounts: Mapping[str, Decimal]
    lowest_prior: Decimal | None = None


def read(section: Mapping[str, Any] | None) -> StoredPrice | None:
    """The typed price section (stored or announced), or ``None`` without a price."""
    if section is None:
        return None
    amount = parse_decimal(section["amount"])
    assert amount is not None
    return StoredPrice(
        currency=section["currency"],
        amount=amount,
        list_amount=parse_decimal(section.get("list_amount")),
        discount_percent=parse_decimal(section.get("discount_percent")),
        segment_amounts={
            name: Decimal(value) if isinstance(value, str) else value
            for name, value in (section.get("segment_amounts") or {}).items()
        },
        lowest_prior=parse_decimal(section.get(PRIOR)),
    )


@strawberry.type(description="What the viewer pays; amounts are exact decimal strings.")
class Price:
    amount: Decimal = strawberry.field(description="The price the viewer pays.")
    list_amount: Decimal | None = strawberry.field(
        description="The regular price, when it differs from or frames `amount`."
    )
    currency: str = strawberry.field(description="ISO 4217 code.")
    discount_percent: Decimal | None = strawberry.field(
        description="How far `amount` is below the list price, in percent."
    )
    lowest_price_30d: Decimal | None = strawberry.field(
        default=None,
        description="The lowest price in force in the 30 days before the current "
        "reduction began (EU Directive 2019/2161, article 6a), per variant and market; "
        "null when the current price is not a reduction of the one before it, and for "
        "a customer segment's price.",
    )


def viewer_price(price: StoredPrice | None, segment: str | None) -> Price | None:
    """The price the viewer pays: the segment's price when there is one.

    Args:
        price: The stored price.
        segment: The viewer's customer segment, from the token.
    """
    if price is None:
        return None
    amount, list_amount, discount = price.amount, price.list_amount, price.discount_percent
    segment_amount = price.segment_amounts.get(segment) if segment else None
    if segment_amount is not None:
        list_amount, amount = amount, segment_amount
        discount = discount_percent(amount, list_amount)
    return Price(
        amount=amount,
        list_amount=list_amount,
        currency=price.currency,
        discount_percent=discount,
        lowest_price_30d=None if segment_amount is not None else price.lowest_prior,
    )


def read_variant_prices(entries: Mapping[str, Any] | None) -> dict[str, StoredPrice]:
    """The default market's prices of SKUs, by SKU, without the withdrawn ones."""
    prices: dict[str, StoredPrice] = {}
    for entry in (entries or {}).values():
        if not entry.get("deleted") and "market" not in entry and "valid_from" not in entry:
            price = read(entry)
            assert price is not None
            prices[entry["id"]] = price
    return prices


def read_market_prices(
    entries: Mapping[str, Any] | None,
) -> dict[tuple[str, str | None], StoredPrice]:
    """The other markets' prices, by market and SKU (``None``: the product's own),
    without the withdrawn ones."""
    prices: dict[tuple[str, str | None], StoredPrice] = {}
    for entry in (entries or {}).values():
        if not entry.get("deleted") and "market" in entry and "valid_from" not in entry:
            price = read(entry)
            assert price is not None
            prices[(entry["market"], entry["sku"])] = price
    return prices


TOPIC = SourceTopic(
    setting="prices",
    default_name="pricing.prices",
    description="price snapshots and withdrawals, with segment prices",
    shape='`{"product_id","currency","amount","list_amount",'
    '"segment_amounts":{"gold":"17.99"},"updated_at"}`, with `"sku"` for one variant\'s price '
    'and `"market"` for one market\'s, `"valid_from"`/`"valid_until"` for a scheduled '
    "price; a tombstone withdraws the product's price, a CDC delete naming a `sku`, `market` "
    "or `valid_from` that price",
    decode=decode,
    event_time=snapshot_time,
)

SOURCE: Source[StoredPrice | None] = Source(
    section="price",
    topics=(TOPIC,),
    initial=lambda: None,
    fold=fold,
    read=read,
    derive=derive,
    entries="variant_prices",
    history="price_history",
)
