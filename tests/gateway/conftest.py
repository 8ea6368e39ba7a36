"""A running gateway over documents made by the real fold."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pymongo import AsyncMongoClient

from shopwindow.clock import Clock
from shopwindow.devstack import DevStack
from shopwindow.document import COLLECTION
from shopwindow.extensions import Extension
from shopwindow.gateway.app import create_app, server_options
from shopwindow.http_server import HttpServer
from shopwindow.materializer.decode import decode_record
from shopwindow.materializer.events import Position
from shopwindow.materializer.fold import FoldSettings, fold
from shopwindow.materializer.sources.base import SourceTopic
from shopwindow.materializer.store import SaleProductStore
from shopwindow.mongo import MongoDocument
from shopwindow.settings import GatewaySettings
from shopwindow.topics import TopicNames
from tests import kinds
from tests.gateway.changelog_source import Source
from tests.helpers import encode, eventually
from tests.materializer.conftest import catalog, price, review, stock_take

Seed = Callable[..., Any]


@pytest.fixture
async def seed(mongo: AsyncMongoClient[MongoDocument], database_name: str) -> Callable[..., Any]:
    """Stores the document the fold makes of a product's events."""
    offsets = itertools.count()
    await SaleProductStore(mongo[database_name]).ensure_indexes()

    async def store(product_id: str, *events: tuple[SourceTopic, dict[str, Any] | None]) -> None:
        sourced = [
            kinds.sourced_event(
                kind,
                decode_record(kind, product_id.encode(), encode(value)).event,
                Position(kind.setting, 0, next(offsets)),
            )
            for kind, value in events
        ]
        doc = fold(None, product_id, sourced, FoldSettings()).document
        assert doc is not None
        await mongo[database_name][COLLECTION].replace_one({"_id": product_id}, doc, upsert=True)

    return store


def full_product(
    product_id: str, category: str = "shoes", **fields: Any
) -> list[tuple[SourceTopic, dict[str, Any] | None]]:
    """Events of a product with catalog, price, stock and a review."""
    return [
        (
            kinds.CATALOG,
            catalog(
                product_id,
                category=category,
                brand="Acme",
                images=["https://img/1.jpg"],
                attributes={"colour": "red", "size": 42},
                **fields,
            ),
        ),
        (
            kinds.PRICES,
            price(product_id, "17.99", list_amount="19.99", segment_amounts={"gold": "15.00"}),
        ),
        (kinds.INVENTORY, stock_take(3, product_id)),
        (kinds.REVIEWS, review(f"r-{product_id}", 4, product_id=product_id)),
    ]


GatewayFactory = Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def gateway(gateway_settings: Callable[..., GatewaySettings]) -> GatewayFactory:
    """Runs a gateway over HTTP and yields a client for it."""

    @contextlib.asynccontextmanager
    async def run(
        with_extensions: Sequence[Extension] | None = None,
        clock: Clock | None = None,
        **overrides: Any,
    ) -> AsyncIterator[httpx.AsyncClient]:
        settings = gateway_settings(**overrides)
        app = create_app(settings, with_extensions, clock)
        server = HttpServer(app, "127.0.0.1", 0, **server_options(settings, app))
        await server.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
                yield client
        finally:
            await server.stop()

    return run


@pytest.fixture
async def source(
    stack: DevStack, topics: TopicNames, mongo: AsyncMongoClient[MongoDocument], database_name: str
) -> AsyncIterator[Source]:
    made = Source(stack, topics, mongo, database_name)
    await made._producer.start()
    yield made
    await made._producer.stop()


async def until_counted(
    http: httpx.AsyncClient,
    ask: Callable[[], Awaitable[object]],
    name: str,
    at_least: float,
    **labels: str,
) -> None:
    """Call ``ask()`` until the gateway's sample ``name`` reaches ``at_least``."""

    async def ask_then_count() -> float:
        await ask()
        return await sample(http, name, **labels)

    await eventually(ask_then_count, lambda count: count >= at_least)


async def sample(http: httpx.AsyncClient, name: str, **labels: str) -> float:
    """The value of one sample on the gateway's ``/metrics``; 0 before it is counted."""
    text = (await http.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return 0.0
