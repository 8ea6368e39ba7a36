"""Example extension: promotions, from their own topic to ``Product.promotions``.

An opportunistic consumer: the promotions service already publishes to ``promotions``;
this package declares the topic as a source, folds its events into a ``promotions``
section of each product's document, and adds ``Product.promotions``, which lists the
promotions active when the query runs. Nothing outside this folder changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from pydantic import Field, StrictBool

from shopwindow.cost_directives import list_size
from shopwindow.extensions import Extension
from shopwindow.materializer.envelope import Envelope, validate
from shopwindow.materializer.errors import PoisonEvent
from shopwindow.materializer.events import ProductId, SourceEvent, Text, Timestamp
from shopwindow.materializer.sources.base import Effect, FoldStep, Source, SourceTopic
from shopwindow.product_type import Product

# A product keeps at most this many promotions; the ones that ended first make room.
MAX_PROMOTIONS = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class PromotionChanged(SourceEvent):
    """A promotion of a product was created, changed or deleted."""

    product_id: ProductId
    promotion_id: Annotated[Text, Field(min_length=1, max_length=256)]
    label: Annotated[Text, Field(max_length=200)] = ""
    discount_percent: Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)] = Decimal(0)
    starts_at: Timestamp
    ends_at: Timestamp
    deleted: StrictBool = False
    updated_at: Timestamp | None = None


def decode(envelope: Envelope) -> PromotionChanged:
    """A promotion event; a CDC delete with its row image deletes the promotion."""
    if envelope.data is None:
        raise PoisonEvent("a delete without its row image names no promotion")
    data = {**envelope.data, "deleted": True} if envelope.is_delete else envelope.data
    event = validate(PromotionChanged, data)
    if event.ends_at <= event.starts_at:
        raise PoisonEvent("a promotion must end after it starts")
    return event


def fold(step: FoldStep, event: Any) -> Effect:
    """Replace the promotion's entry, newest first; without an ``updated_at`` of their
    own, events of one promotion are ordered by their place in the log."""
    change: PromotionChanged = event
    content = None
    if not change.deleted:
        content = {
            "label": change.label,
            "discount_percent": change.discount_percent,
            "starts_at": change.starts_at,
            "ends_at": change.ends_at,
        }
    effect = step.replace_entry(change.promotion_id, content, change.updated_at or _EPOCH)
    entries = step.section
    if len(entries) > MAX_PROMOTIONS:
        for key in sorted(entries, key=lambda k: entries[k].get("ends_at") or _EPOCH)[
            : len(entries) - MAX_PROMOTIONS
        ]:
            del entries[key]
    return effect


@strawberry.type(description="A promotion of a product (example extension).")
class Promotion:
    id: strawberry.ID
    label: str
    discount_percent: Decimal
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class Promotions:
    """The promotions section, typed."""

    all: tuple[Promotion, ...]

    def active_at(self, now: datetime) -> list[Promotion]:
        """The promotions running at ``now``, soonest ending first."""
        running = [p for p in self.all if p.starts_at <= now < p.ends_at]
        return sorted(running, key=lambda p: (p.ends_at, str(p.id)))


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def read(section: Mapping[str, Any]) -> Promotions:
    """The typed section (stored or announced); deleted promotions left out."""
    return Promotions(
        tuple(
            Promotion(
                id=strawberry.ID(entry["id"]),
                label=entry["label"],
                discount_percent=Decimal(entry["discount_percent"]),
                starts_at=_time(entry["starts_at"]),
                ends_at=_time(entry["ends_at"]),
            )
            for entry in section.values()
            if not entry["deleted"]
        )
    )


def _promotions(root: Product) -> list[Promotion]:
    return root.sale_product.get(SOURCE).active_at(datetime.now(UTC))


@strawberry.type
class PromotionFields:
    promotions: list[Promotion] = strawberry.field(
        resolver=_promotions,
        description="The promotions running now (example extension).",
        directives=[list_size(assumed=5)],  # A few at a time: what the cost counts.
    )


TOPIC = SourceTopic(
    setting="promotions",
    default_name="promotions",
    description="promotions of products, with the time they run (example extension)",
    shape='`{"product_id","promotion_id","label","discount_percent","starts_at","ends_at",'
    '"deleted"}`',
    decode=decode,
    event_time=lambda event: event.updated_at,
)

SOURCE: Source[Promotions] = Source(
    section="promotions",
    topics=(TOPIC,),
    initial=dict,
    fold=fold,
    read=read,
    product_fields=PromotionFields,
)

extension = Extension(name="promotions", sources=[SOURCE])
