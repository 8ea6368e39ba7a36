"""Stock: how many units can be bought, from deltas and stock takes.

The stock service publishes deltas (``quantity_change``) as units are reserved and
restocked, and stock takes (``quantity``) that replace the count. Deltas add up, so
their order does not matter; the watermark and event ids make each count once.

A record that names a ``sku`` counts that variant's stock, kept in ``variant_stock``
by SKU whether or not the catalog lists the SKU yet (or still): what is not listed is
hidden, not lost. A record without one counts the product's default variant.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import strawberry

from shopwindow.document import StockStatus, escape_key, parse_time
from shopwindow.materializer.envelope import Envelope, validate
from shopwindow.materializer.errors import PoisonEvent
from shopwindow.materializer.events import ProductId, Quantity, SourceEvent, Timestamp
from shopwindow.materializer.sources.base import Effect, FoldStep, Source, SourceTopic
from shopwindow.materializer.sources.variants import Sku

if TYPE_CHECKING:
    from shopwindow.materializer.fold import FoldSettings

# The stored status values are the public enum: one definition for both roles.
strawberry.enum(StockStatus, name="StockStatus", description="Whether a product can be bought now.")
# Calling an Enum to look a value up costs microseconds; every read of a product does it.
_STATUS_BY_VALUE = {status.value: status for status in StockStatus}


class InventoryDelta(SourceEvent):
    """A change of the stock level, as the stock service publishes it."""

    product_id: ProductId
    sku: Sku | None = None
    quantity_change: Quantity
    timestamp: Timestamp


class StockTake(SourceEvent):
    """A counted stock level that replaces the current one."""

    product_id: ProductId
    sku: Sku | None = None
    quantity: Quantity
    timestamp: Timestamp


def decode(envelope: Envelope) -> InventoryDelta | StockTake:
    """A delta or a stock take, by the field it carries."""
    if envelope.is_delete or envelope.data is None:
        raise PoisonEvent("a delete means nothing on an inventory topic")
    if "quantity_change" in envelope.data:
        return validate(InventoryDelta, envelope.data)
    if "quantity" in envelope.data:
        return validate(StockTake, envelope.data)
    raise PoisonEvent("inventory event has neither 'quantity_change' nor 'quantity'")


def initial() -> dict[str, Any]:
    """Nothing in stock."""
    return {
        "quantity": 0,
        "available": 0,
        "status": StockStatus.OUT_OF_STOCK.value,
        "updated_at": None,
    }


def fold(step: FoldStep, event: Any) -> Effect:
    """Add a delta, or replace the count with a stock take, of the product's default
    variant or of the SKU the event names."""
    if event.sku is None:
        return _count(step.section, event)
    key = escape_key(event.sku)
    stored = step.entries.get(key)
    # A new dict, never the stored entry: the fold shares the entries it does not
    # change with the document it read.
    stock = {"id": event.sku, **initial()} if stored is None else dict(stored)
    step.entries[key] = stock
    effect = _count(stock, event)
    derive(stock, step.settings)
    return effect


def _count(stock: dict[str, Any], event: InventoryDelta | StockTake) -> Effect:
    quantity = (
        stock["quantity"] + event.quantity_change
        if isinstance(event, InventoryDelta)
        else event.quantity
    )
    newer = stock["updated_at"] is None or event.timestamp > stock["updated_at"]
    if quantity == stock["quantity"] and not newer:
        return Effect.NONE
    stock["quantity"] = quantity
    if newer:
        stock["updated_at"] = event.timestamp
    return Effect.PUBLIC


def derive(stock: dict[str, Any], settings: FoldSettings) -> None:
    """Units available (never below zero) and the status the page shows."""
    stock["available"] = max(stock["quantity"], 0)
    if stock["available"] == 0:
        stock["status"] = StockStatus.OUT_OF_STOCK.value
    elif stock["available"] <= settings.low_stock_threshold:
        stock["status"] = StockStatus.LOW_STOCK.value
    else:
        stock["status"] = StockStatus.IN_STOCK.value


@strawberry.type(description="How many units can be bought.")
class Stock:
    available: int
    status: StockStatus
    updated_at: datetime | None


def read(section: Mapping[str, Any]) -> Stock:
    """The typed stock section (stored or announced)."""
    return Stock(
        available=section["available"],
        status=_STATUS_BY_VALUE.get(section["status"]) or StockStatus(section["status"]),
        updated_at=parse_time(section.get("updated_at")),
    )


TOPIC = SourceTopic(
    setting="inventory",
    default_name="inventory",
    description="stock deltas (`quantity_change`) and stock takes (`quantity`)",
    shape='deltas `{"product_id","quantity_change":-1,"timestamp"}` and stock takes '
    '`{"product_id","quantity":42,"timestamp"}`, each with `"sku"` for one variant\'s stock',
    decode=decode,
    event_time=lambda event: event.timestamp,
)

SOURCE: Source[Stock] = Source(
    section="stock",
    topics=(TOPIC,),
    initial=initial,
    fold=fold,
    read=read,
    derive=derive,
    entries="variant_stock",
)
