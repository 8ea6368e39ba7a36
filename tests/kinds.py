"""The core source topics, by a short name, for tests."""

from __future__ import annotations

from pydantic import BaseModel

from shopwindow.materializer.events import Position, SourcedEvent
from shopwindow.materializer.sources import CORE, catalog, inventory, popularity, prices, reviews
from shopwindow.materializer.sources.base import SourceTopic

CATALOG = catalog.TOPIC
PRICES = prices.TOPIC
INVENTORY = inventory.TOPIC
ORDERS = popularity.ORDERS
CLICKS = popularity.CLICKS
REVIEWS = reviews.TOPIC
ALL: tuple[SourceTopic, ...] = CORE.topics


def sourced_event(
    topic: SourceTopic, event: BaseModel, position: Position, event_id: str | None = None
) -> SourcedEvent:
    """A decoded event of a core topic at ``position``."""
    return SourcedEvent(event, position, CORE.source_of(topic), topic, event_id)
