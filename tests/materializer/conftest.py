"""Factories for the materializer's unit tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from shopwindow.devstack import DevStack
from shopwindow.document import COLLECTION
from shopwindow.materializer.decode import decode_record
from shopwindow.materializer.events import Position, SourcedEvent
from shopwindow.materializer.sources.base import SourceTopic
from shopwindow.mongo import MongoDocument
from shopwindow.settings import MaterializerSettings
from shopwindow.topics import TopicNames
from tests import kinds
from tests.helpers import Record, encode, produce

T0 = datetime(2024, 6, 18, 12, 0, tzinfo=UTC)

TOPIC_OF_KIND = {kind: kind.setting for kind in kinds.ALL}


def at(minutes: float) -> str:
    """An ISO timestamp ``minutes`` after ``T0``."""
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


SourcedFactory = Callable[..., SourcedEvent]


@pytest.fixture
def sourced() -> SourcedFactory:
    """Builds a sourced event from a JSON-like value, as the decoder would.

    Offsets count up per ``(kind, partition)`` unless given.
    """
    counters: dict[tuple[SourceTopic, int], itertools.count[int]] = {}

    def build(
        kind: SourceTopic,
        value: dict[str, Any] | None,
        *,
        key: str | None = None,
        partition: int = 0,
        offset: int | None = None,
        event_id: str | None = None,
    ) -> SourcedEvent:
        counter = counters.setdefault((kind, partition), itertools.count())
        decoded = decode_record(
            kind,
            key.encode() if key else None,
            encode(value),
            [("id", event_id.encode())] if event_id else [],
        )
        position = Position(
            TOPIC_OF_KIND[kind], partition, next(counter) if offset is None else offset
        )
        return kinds.sourced_event(kind, decoded.event, position, decoded.event_id)

    return build


def catalog(product_id: str = "abc", minutes: float = 0, **fields: Any) -> dict[str, Any]:
    """A catalog snapshot value."""
    return {"product_id": product_id, "name": "Trail shoe", "updated_at": at(minutes), **fields}


def sizes(skus: list[str]) -> dict[str, Any]:
    """The options and variants of a catalog record: one size per SKU, named after it."""
    if not skus:
        return {}
    return {
        "options": [{"name": "size", "values": list(skus)}],
        "variants": [{"sku": sku, "options": {"size": sku}} for sku in skus],
    }


def price(
    product_id: str = "abc", amount: str | float = "19.99", minutes: float = 0, **fields: Any
) -> dict[str, Any]:
    """A price snapshot value."""
    return {
        "product_id": product_id,
        "currency": "EUR",
        "amount": amount,
        "updated_at": at(minutes),
        **fields,
    }


def delta(change: int, product_id: str = "abc", minutes: float = 0) -> dict[str, Any]:
    """An inventory delta value."""
    return {"product_id": product_id, "quantity_change": change, "timestamp": at(minutes)}


def stock_take(quantity: int, product_id: str = "abc", minutes: float = 0) -> dict[str, Any]:
    """A stock-take value."""
    return {"product_id": product_id, "quantity": quantity, "timestamp": at(minutes)}


def review(
    review_id: str, rating: int, minutes: float = 0, deleted: bool = False, product_id: str = "abc"
) -> dict[str, Any]:
    """A review value."""
    return {
        "review_id": review_id,
        "product_id": product_id,
        "rating": rating,
        "deleted": deleted,
        "updated_at": at(minutes),
    }


def order(order_id: str, *product_ids: str, minutes: float = 0) -> dict[str, Any]:
    """An order value."""
    return {
        "order_id": order_id,
        "user_id": "u1",
        "product_ids": list(product_ids),
        "amount": 99.99,
        "timestamp": at(minutes),
    }


def click(product_id: str = "abc", minutes: float = 0) -> dict[str, Any]:
    """A click value."""
    return {"user_id": "u1", "product_id": product_id, "timestamp": at(minutes)}


@dataclass
class World:
    """The servers, names and settings of one integration test of the materializer."""

    stack: DevStack
    topics: TopicNames
    mongo: AsyncMongoClient[MongoDocument]
    database: str
    settings: Callable[..., MaterializerSettings]

    async def produce(
        self, records: list[Record], headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        """Produce records to this test's topics."""
        await produce(self.stack.kafka_bootstrap_servers, records, headers)

    async def documents(self) -> dict[str, dict[str, Any]]:
        """Every SaleProduct document of this test's database."""
        return {d["_id"]: d async for d in self.mongo[self.database][COLLECTION].find()}


@pytest.fixture
def world(
    stack: DevStack,
    topics: TopicNames,
    mongo: AsyncMongoClient[MongoDocument],
    database_name: str,
    materializer_settings: Callable[..., MaterializerSettings],
) -> World:
    """Everything an integration test of the materializer works with."""
    return World(stack, topics, mongo, database_name, materializer_settings)
