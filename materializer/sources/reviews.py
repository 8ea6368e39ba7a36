"""Reviews: the average rating, kept exact under edits, deletes, moves and redeliveries.

A review is identified by its product and its id: review systems number reviews per
product as often as globally, so "r1" of two products are two reviews. Each review's
current state lives in the ``reviews`` collection under that identity
(``base.entry_id``), not in the product document, so a document does not grow with
its reviews. A review event replaces its review's entry when its ordering key is
newer, and moves the product's ``rating`` sum and count by the difference.

A review that moves to another product (a Debezium update whose before-image names
another ``product_id``, or an event with ``previous_product_id``) concerns both
products: the old one records the review as gone, the new one counts it. Each does so
under its own watermarks and ordering keys, so a replay or a crash changes nothing.

Invariant, checked after every fold: ``count`` reviews of 1 to 5 stars sum to between
``count`` and ``5 * count``. A record that would break it is refused, never stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from pydantic import Field, StrictBool, StrictInt

from shopwindow.materializer.envelope import Envelope, validate
from shopwindow.materializer.errors import InvariantBroken, PoisonEvent
from shopwindow.materializer.events import ProductId, SourceEvent, Text, Timestamp
from shopwindow.materializer.sources.base import (
    Effect,
    FoldStep,
    KeyedState,
    Source,
    SourceTopic,
)
from shopwindow.product_type import Product

if TYPE_CHECKING:
    from shopwindow.materializer.fold import FoldSettings

COLLECTION = "reviews"


MIN_STARS, MAX_STARS = 1, 5


class ReviewUpserted(SourceEvent):
    """A review was written, edited, deleted or moved to ``product_id``.

    Attributes:
        previous_product_id: The product the review belonged to before this change,
            when it moved; that product no longer counts it.
    """

    review_id: Annotated[Text, Field(min_length=1, max_length=256)]
    product_id: ProductId
    previous_product_id: ProductId | None = None
    rating: Annotated[StrictInt, Field(ge=MIN_STARS, le=MAX_STARS)]
    deleted: StrictBool = False
    updated_at: Timestamp


def decode(envelope: Envelope) -> ReviewUpserted:
    """A review; a CDC delete with its row image deletes the review, and a CDC update
    whose before-image names another product moves it."""
    data = envelope.data
    if data is None:
        raise PoisonEvent("a delete without its row image names no review")
    if envelope.is_delete:
        data = {**data, "deleted": True}
        if envelope.source_time is not None:
            data["updated_at"] = envelope.source_time
    before = envelope.before
    if before is not None and "previous_product_id" not in data:
        previous = before.get("product_id")
        if previous is not None and previous != data.get("product_id"):
            data = {**data, "previous_product_id": previous}
    return validate(ReviewUpserted, data)


def _products(review: ReviewUpserted) -> tuple[str, ...]:
    previous = review.previous_product_id
    if previous is None or previous == review.product_id:
        return (review.product_id,)
    return (review.product_id, previous)


def fold(step: FoldStep, event: Any) -> Effect:
    """Replace this product's entry of the review if newer, and move the sum and count
    by the change. For the product a review moved away from, the review is gone."""
    review: ReviewUpserted = event
    key = step.ordering_key(review.updated_at)
    stored = step.keyed.get(review.review_id)
    if stored is not None and tuple(key) <= tuple(stored["key"]):
        return Effect.NONE
    deleted = review.deleted or step.product_id != review.product_id
    # The stars this product counts for the review now, if it counts it.
    counted: int | None = None if stored is None or stored["deleted"] else stored["rating"]
    rating = step.section
    if counted is not None:
        rating["count"] -= 1
        rating["sum"] -= counted
    if not deleted:
        rating["count"] += 1
        rating["sum"] += review.rating
    step.keyed.put(review.review_id, {"rating": review.rating, "deleted": deleted, "key": key})
    if deleted and counted is None:
        return Effect.META  # Remembered, so that an older state cannot come back.
    if not deleted and counted == review.rating:
        return Effect.META  # Same rating, newer time: nothing for clients to see.
    return Effect.PUBLIC


def check(rating: Mapping[str, Any]) -> None:
    """Assert what any set of reviews satisfies: a count of at least zero, and a sum of
    one to five stars per review counted.

    Raises:
        InvariantBroken: When the section breaks it; the record that led here is refused.
    """
    count, total = rating["count"], rating["sum"]
    if not (count >= 0 and MIN_STARS * count <= total <= MAX_STARS * count):
        raise InvariantBroken(f"rating count {count} with sum {total} is impossible")


def derive(rating: dict[str, Any], settings: FoldSettings) -> None:
    """Check the section, then the average of the current reviews, to two decimals."""
    check(rating)
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
    shape='key: review id; `{"review_id","product_id","rating":1..5,"deleted":false,'
    '"updated_at"}`: a review is its product and its id; a move names '
    '`"previous_product_id"` (or is a Debezium update whose before-image names it)',
    decode=decode,
    event_time=lambda event: event.updated_at,
    product_ids=_products,
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
