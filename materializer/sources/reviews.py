"""Reviews: the average rating, kept exact under edits, deletes and redeliveries.

Each review's current state lives in the ``reviews`` collection, keyed by review id,
not in the product document, so a product's document does not grow with its reviews.
A review event replaces its review's entry when its ordering key is newer, and moves
the product's ``rating`` sum and count by the difference: a rating delta.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from pydantic import Field, StrictBool, StrictInt

from shopwindow.gateway.types import Product
from shopwindow.materializer.envelope import Envelope, validate
from shopwindow.materializer.errors import PoisonEvent
from shopwindow.materializer.events import ProductId, SourceEvent, Text, Timestamp
from shopwindow.materializer.sources.base import (
    Effect,
    FoldStep,
    KeyedState,
    Source,
    SourceTopic,
)

if TYPE_CHECKING:
    from shopwindow.materializer.fold import FoldSettings

COLLECTION = "reviews"


class ReviewUpserted(SourceEvent):
    """A review was written, edited or deleted."""

    review_id: Annotated[Text, Field(min_length=1, max_length=256)]
    product_id: ProductId
    rating: Annotated[StrictInt, Field(ge=1, le=5)]
    deleted: StrictBool = False
    updated_at: Timestamp


def decode(envelope: Envelope) -> ReviewUpserted:
    """A review; a CDC delete with its row image deletes the review."""
    data = envelope.data
    if data is None:
        raise PoisonEvent("a delete without its row image names no review")
    if envelope.is_delete:
        data = {**data, "deleted": True}
        if envelope.source_time is not None:
            data["updated_at"] = envelope.source_time
    return validate(ReviewUpserted, data)


def fold(step: FoldStep, event: Any) -> Effect:
    """Replace the review's entry if newer, and move the sum and count by the change."""
    review: ReviewUpserted = event
    key = step.ordering_key(review.updated_at)
    stored = step.keyed.get(review.review_id)
    if stored is not None and tuple(key) <= tuple(stored["key"]):
        return Effect.NONE
    rating = step.section
    if stored is not None and not stored["deleted"]:
        rating["count"] -= 1
        rating["sum"] -= stored["rating"]
    if not review.deleted:
        rating["count"] += 1
        rating["sum"] += review.rating
    step.keyed.put(
        review.review_id,
        {
            "product_id": review.product_id,
            "rating": review.rating,
            "deleted": review.deleted,
            "key": key,
        },
    )
    unchanged = stored is not None and (stored["rating"], stored["deleted"]) == (
        review.rating,
        review.deleted,
    )
    if unchanged or (stored is None and review.deleted):
        return Effect.META
    return Effect.PUBLIC


def derive(rating: dict[str, Any], settings: FoldSettings) -> None:
    """The average of the current reviews, to two decimals."""
    rating["average"] = round(rating["sum"] / rating["count"], 2) if rating["count"] else None


@strawberry.type(description="The average of the product's current reviews.")
class Rating:
    average: float | None
    count: int


def read(section: Mapping[str, Any]) -> Rating:
    """The typed rating section."""
    return Rating(average=section.get("average"), count=section["count"])


def _rating(root: Product) -> Rating:
    return root.sale_product.get(SOURCE)


@strawberry.type
class RatingFields:
    rating: Rating = strawberry.field(resolver=_rating)


TOPIC = SourceTopic(
    setting="reviews",
    default_name="reviews",
    description="reviews written, edited and deleted (rating 1-5)",
    shape='`{"review_id","product_id","rating":1..5,"deleted":false,"updated_at"}`; '
    "each review's state is kept in the `reviews` collection",
    decode=decode,
    event_time=lambda event: event.updated_at,
)

SOURCE: Source[Rating] = Source(
    section="rating",
    topics=(TOPIC,),
    initial=lambda: {"average": None, "count": 0, "sum": 0},
    fold=fold,
    read=read,
    derive=derive,
    product_fields=RatingFields,
    keyed_state=KeyedState(collection=COLLECTION, key_of=lambda event: event.review_id),
)
