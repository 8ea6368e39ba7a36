"""``shopwindow rebuild`` against the whole pipeline: a live materializer and a gateway
serving clients while a new generation is built, switched to, rolled back, finished."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from bench.rebuild_load import ClientLoad
from shopwindow.devstack import DevStack
from shopwindow.gateway.app import create_app
from shopwindow.generations import products_collection
from shopwindow.http_server import HttpServer
from shopwindow.materializer.sources import CORE
from shopwindow.mongo import MongoDocument
from shopwindow.rebuild import Rebuild, RebuildError
from shopwindow.serving import ServingPointers
from shopwindow.settings import GatewaySettings, MaterializerSettings
from shopwindow.topics import TopicNames
from tests import kinds
from tests.helpers import eventually, produce, run_command, running_materializer
from tests.materializer.conftest import catalog, delta, stock_take

IDS = [f"r{n:02d}" for n in range(20)]
STOCK = "query Stock($id: ID!) { product(id: $id) { stock { available } version } }"


@pytest.fixture
def fast(
    materializer_settings: Callable[..., MaterializerSettings],
) -> MaterializerSettings:
    return materializer_settings(pointer_poll_interval_ms=50, switch_lease_s=20)


@pytest.fixture
async def gateway(
    gateway_settings: Callable[..., GatewaySettings],
) -> AsyncIterator[str]:
    # No document cache: the test below raises stored versions behind the changelog's back.
    settings = gateway_settings(pointer_poll_interval_ms=100, document_cache_mb=0)
    server = HttpServer(create_app(settings), "127.0.0.1", 0)
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop()


async def seed(stack: DevStack, topics: TopicNames) -> None:
    await produce(
        stack.kafka_bootstrap_servers,
        [
            record
            for product_id in IDS
            for record in (
                (kinds.CATALOG.name_in(topics), product_id, catalog(product_id)),
                (kinds.INVENTORY.name_in(topics), product_id, stock_take(100, product_id)),
            )
        ],
    )


@contextlib.asynccontextmanager
async def steady_changes(stack: DevStack, topics: TopicNames) -> AsyncIterator[None]:
    """Stock changes to every product, all the time."""

    stop = asyncio.Event()

    async def changes() -> None:
        minutes = 1.0
        while not stop.is_set():
            minutes += 0.01
            await produce(
                stack.kafka_bootstrap_servers,
                [
                    (kinds.INVENTORY.name_in(topics), pid, delta(-1, pid, minutes))
                    for pid in IDS[:5]
                ],
            )
            await asyncio.sleep(0.05)

    task = asyncio.create_task(changes())
    try:
        yield
    finally:
        stop.set()  # Not cancelled: each round's producer closes on its own.
        await task


async def all_served(base_url: str) -> None:
    """Wait until every product is served (stock may be folded before the catalog)."""
    async with httpx.AsyncClient(base_url=base_url) as http:

        async def served() -> list[Any]:
            query = "query($ids: [ID!]!) { products(ids: $ids) { id } }"
            response = await http.post("/graphql", json={"query": query, "variables": {"ids": IDS}})
            products: list[Any] = response.json()["data"]["products"]
            return products

        await eventually(served, lambda products: None not in products)


async def stock_of(base_url: str, product_id: str) -> Any:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post(
            "/graphql", json={"query": STOCK, "variables": {"id": product_id}}
        )
        return response.json()["data"]["product"]


async def test_a_rebuild_switches_under_load_and_rolls_back_without_a_failure_or_a_step_back(
    stack: DevStack,
    topics: TopicNames,
    fast: MaterializerSettings,
    gateway: str,
    mongo: AsyncMongoClient[MongoDocument],
    database_name: str,
) -> None:
    await seed(stack, topics)
    database = mongo[database_name]
    # The served generation went through many more versions than a fold from scratch
    # makes (a long history, a fold that changed more often): the rebuilt documents
    # must still come out above them. Without a document cache the materializer reads
    # the raised versions.
    fast = fast.model_copy(update={"materializer_document_cache_mb": 0})
    async with running_materializer(fast):
        await all_served(gateway)
        await database[products_collection(0)].update_many({}, {"$inc": {"version": 1000}})
        async with (
            steady_changes(stack, topics),
            ClientLoad(gateway, IDS, readers=3, subscribers=2) as load,
        ):
            async with Rebuild(fast, CORE) as rebuild:
                report = await rebuild.run()
                pointer = await rebuild.pointers.read()
                assert (pointer.generation, pointer.previous, pointer.building) == (1, 0, None)
                assert report.members == 1 and report.announced >= len(IDS)
                await asyncio.sleep(1)  # Clients go on reading the new generation.
                back = await rebuild.rollback()
                pointer = await rebuild.pointers.read()
                assert (pointer.generation, pointer.previous) == (0, 1)
                await asyncio.sleep(1)
        observed = load.observed
        assert observed.requests > 20 and observed.updates > 20, observed
        assert observed.failures == 0, observed.failure_samples
        assert observed.largest_step_back == 0
        assert report.raised + back.raised > 0 and back.seconds > 0
        served = await database[products_collection(0)].find_one({"_id": "r10"})
        assert served is not None and served["version"] > 1000

        # The live materializer follows the pointer: a change made now lands in the
        # served generation, 0 again, and the gateway serves it.
        before = await stock_of(gateway, "r19")
        await produce(
            stack.kafka_bootstrap_servers,
            [(kinds.INVENTORY.name_in(topics), "r19", delta(-7, "r19", 5))],
        )
        after = await eventually(
            lambda: stock_of(gateway, "r19"),
            lambda p: p["stock"]["available"] == before["stock"]["available"] - 7,
        )
        assert after["version"] > before["version"]
        stored = await database[products_collection(0)].find_one({"_id": "r19"})
        assert stored is not None and stored["stock"]["available"] == after["stock"]["available"]
        kept = await database[products_collection(1)].find_one({"_id": "r19"})
        assert kept is not None and kept["stock"]["available"] == before["stock"]["available"]

    async with Rebuild(fast, CORE) as rebuild:
        assert await rebuild.finish() == 1
        assert (await rebuild.pointers.read()).previous is None
        with pytest.raises(RebuildError, match="no previous generation"):
            await rebuild.finish()
    assert products_collection(1) not in await database.list_collection_names()


async def test_an_interrupted_build_resumes_or_is_abandoned_and_nothing_served_changes(
    stack: DevStack,
    topics: TopicNames,
    fast: MaterializerSettings,
    gateway: str,
    mongo: AsyncMongoClient[MongoDocument],
    database_name: str,
) -> None:
    await seed(stack, topics)
    database = mongo[database_name]
    async with running_materializer(fast):
        await all_served(gateway)
        async with Rebuild(fast, CORE) as rebuild:
            # Interrupted while building: the build's group remembers how far it got.
            interrupted = asyncio.create_task(rebuild.run())
            await eventually(
                lambda: database[products_collection(1)].count_documents({}),
                lambda n: n > 0,
            )
            interrupted.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await interrupted
            pointer = await rebuild.pointers.read()
            assert (pointer.generation, pointer.building) == (0, 1)
            assert (await stock_of(gateway, "r00")) is not None

            assert await rebuild.abandon() == 1
            assert products_collection(1) not in await database.list_collection_names()
            assert (await rebuild.pointers.read()).building is None

            # A new build starts from the beginning, not from the abandoned one's offsets.
            await rebuild.run()
            assert await database[products_collection(1)].count_documents({}) == len(IDS)
            with pytest.raises(RebuildError, match="kept for a rollback"):
                await rebuild.run()


async def test_a_switch_whose_process_died_is_cancelled_by_the_live_member_after_its_lease(
    stack: DevStack,
    topics: TopicNames,
    materializer_settings: Callable[..., MaterializerSettings],
    gateway: str,
    mongo: AsyncMongoClient[MongoDocument],
    database_name: str,
) -> None:
    await seed(stack, topics)
    settings = materializer_settings(pointer_poll_interval_ms=50, switch_lease_s=1)
    pointers = ServingPointers(mongo[database_name])
    async with running_materializer(settings):
        await all_served(gateway)
        # A rebuild asked the members to pause, then died before flipping.
        assert await pointers.begin_building(1, 0, "group-of-a-dead-rebuild")
        assert await pointers.begin_switch("dead", 1, 0)
        await eventually(pointers.read, lambda p: p.switch is not None and bool(p.switch.paused))
        await eventually(
            pointers.read, lambda p: p.switch is not None and p.switch.state == "cancelled"
        )
        # The member goes on, on generation 0.
        await produce(
            stack.kafka_bootstrap_servers,
            [(kinds.INVENTORY.name_in(topics), "r03", delta(-30, "r03", 5))],
        )
        await eventually(lambda: stock_of(gateway, "r03"), lambda p: p["stock"]["available"] == 70)
    # The next rebuild clears the cancelled switch and goes on with the build.
    async with Rebuild(settings, CORE) as rebuild:
        assert await rebuild.abandon() == 1
        pointer = await rebuild.pointers.read()
        assert pointer.switch is None and pointer.building is None


async def test_a_switch_whose_process_died_after_the_flip_is_ended_by_the_live_member(
    stack: DevStack,
    topics: TopicNames,
    materializer_settings: Callable[..., MaterializerSettings],
    gateway: str,
    mongo: AsyncMongoClient[MongoDocument],
    database_name: str,
) -> None:
    await seed(stack, topics)
    settings = materializer_settings(pointer_poll_interval_ms=50, switch_lease_s=3)
    database = mongo[database_name]
    pointers = ServingPointers(database)
    async with running_materializer(settings):
        await all_served(gateway)
        # A rebuild flipped, then died while announcing.
        assert await pointers.begin_building(1, 0, "group-of-a-dead-rebuild")
        assert await pointers.begin_switch("dead", 1, 0)
        await eventually(pointers.read, lambda p: p.switch is not None and bool(p.switch.paused))
        assert await pointers.flip("dead", 0, {}, "group-for-generation-0")
        # Renewed, the lease holds past its length (4.5 s against 3, a beat every 0.5 s:
        # seconds of margin); then, unrenewed, the member ends the switch.
        for _ in range(9):
            await pointers.renew("dead")
            await asyncio.sleep(0.5)
            assert (await pointers.read()).switch is not None
        await eventually(pointers.read, lambda p: p.switch is None)
        # The member goes on, in the generation served now.
        await produce(
            stack.kafka_bootstrap_servers,
            [(kinds.INVENTORY.name_in(topics), "r03", stock_take(55, "r03", 5))],
        )
        stored = await eventually(
            lambda: database[products_collection(1)].find_one({"_id": "r03"}),
            lambda doc: doc is not None,
        )
        assert stored is not None and stored["stock"]["available"] == 55


async def test_members_that_died_without_leaving_are_forgotten(
    mongo: AsyncMongoClient[MongoDocument], database_name: str
) -> None:
    pointers = ServingPointers(mongo[database_name])
    await pointers.heartbeat("host.a-1", 1_000.0)
    await pointers.heartbeat("host.b-2", 5_000.0)
    await pointers.forget_members_before(4_000.0)
    assert (await pointers.read()).members == {"host.b-2": 5_000.0}


def environment_of(settings: MaterializerSettings) -> dict[str, str]:
    """The ``SHOPWINDOW_*`` variables that make a process read ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPWINDOW_")}
    env |= {
        "SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "SHOPWINDOW_MONGODB_URI": settings.mongodb_uri.get_secret_value(),
        "SHOPWINDOW_MONGODB_DATABASE": settings.mongodb_database,
        "SHOPWINDOW_MATERIALIZER_GROUP_ID": settings.materializer_group_id,
        "SHOPWINDOW_LOG_LEVEL": "WARNING",
    }
    for name, value in settings.topics.model_dump().items():
        env[f"SHOPWINDOW_TOPICS__{name.upper()}"] = str(value)
    return env


async def test_the_command_shows_progress_switches_and_refuses_what_the_pointer_forbids(
    stack: DevStack,
    topics: TopicNames,
    fast: MaterializerSettings,
    mongo: AsyncMongoClient[MongoDocument],
    database_name: str,
) -> None:
    await seed(stack, topics)
    env = environment_of(fast)
    async with running_materializer(fast):
        code, out, err = await run_command(env, "rebuild")
        assert code == 0, err
        assert "serving generation 1 (kept for --rollback: 0)" in out
        assert "1 live members paused" in out
        assert "caught up" in err and kinds.INVENTORY.name_in(topics) in err
        code, _, err = await run_command(env, "rebuild")
        assert code == 2 and "run `shopwindow rebuild --finish`" in err
        assert (await run_command(env, "rebuild", "--abandon"))[0] == 2
        code, out, _ = await run_command(env, "rebuild", "--finish")
        assert code == 0 and "dropped generation 0" in out
    names = await mongo[database_name].list_collection_names()
    assert products_collection(1) in names and products_collection(0) not in names
