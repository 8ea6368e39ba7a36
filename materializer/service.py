"""The materializer process: owns its clients, the consume loop and the probe server."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from functools import partial
from types import TracebackType
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from starlette.applications import Starlette

from shopwindow.generations import BuildTarget, Pointer
from shopwindow.http_server import HttpServer
from shopwindow.kafka_clients import stop_group_member
from shopwindow.kafka_start import KafkaClient, start_kafka_client
from shopwindow.materializer.batch_writer import BatchWriter
from shopwindow.materializer.document_cache import DocumentCache
from shopwindow.materializer.errors import TransientError
from shopwindow.materializer.fold import FoldSettings
from shopwindow.materializer.generation_follower import GenerationFollower
from shopwindow.materializer.metrics import MaterializerMetrics
from shopwindow.materializer.parking_store import ParkingStore
from shopwindow.materializer.publishing import new_producer
from shopwindow.materializer.runner import Backoff, ConsumeLoop
from shopwindow.materializer.sources import CORE, SourceRegistry
from shopwindow.materializer.store import SaleProductStore
from shopwindow.mongo import MongoDocument, mongo_client
from shopwindow.probes import probe_routes
from shopwindow.serving import ServingPointers
from shopwindow.settings import MaterializerSettings
from shopwindow.topic_check import check_topics, materializer_needs, missing

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 2.0
MIB = 1 << 20

T = TypeVar("T")


class Materializer:
    """One member of the materializer consumer group.

    Use as ``async with Materializer(settings) as materializer: await materializer.run()``.

    Args:
        settings: The materializer's settings.
        metrics: Metrics to report into; a fresh registry by default.
        serve_http: Whether to serve ``/healthz``, ``/readyz`` and ``/metrics``.
        registry: The installed sources: the core ones and those of extensions.
        build: Build this generation beside the served one (``shopwindow rebuild``)
            instead of keeping the served one current: a consumer group of its own,
            nothing published, versions kept above the served generation's.
    """

    def __init__(
        self,
        settings: MaterializerSettings,
        *,
        metrics: MaterializerMetrics | None = None,
        serve_http: bool = True,
        registry: SourceRegistry = CORE,
        build: BuildTarget | None = None,
    ) -> None:
        self.settings = settings
        self.build = build
        self.consumer: AIOKafkaConsumer | None = None
        self.registry = registry
        self.metrics = metrics or MaterializerMetrics()
        self._client_id = f"shopwindow-materializer-{socket.gethostname()}-{os.getpid()}"
        self._mongo: AsyncMongoClient[MongoDocument] | None = None
        self._producer: AIOKafkaProducer | None = None
        self.loop: ConsumeLoop | None = None
        self._http = (
            HttpServer(
                Starlette(routes=probe_routes(self.readiness, self.metrics.registry)),
                settings.materializer_http_host,
                settings.materializer_http_port,
            )
            if serve_http
            else None
        )
        self._topic_needs = materializer_needs(registry, settings.topics, publishes=build is None)
        self._started: list[Callable[[], Awaitable[None]]] = []
        self._starting = True
        self._waiting_for: str | None = None

    @property
    def http_port(self) -> int | None:
        """The port of the probe server, if it runs."""
        return self._http.port if self._http else None

    async def start(self) -> None:
        """Connect to MongoDB and Kafka, waiting out outages, and join the group."""
        settings = self.settings
        try:
            if self._http:
                await self._http.start()
                self._started.append(self._http.stop)
            # Before anything is written: a missing topic is a misconfiguration, final.
            await self._until_available(self._check_topics)
            self._mongo = mongo_client(
                settings.mongodb_uri.get_secret_value(),
                self._client_id,
                serverSelectionTimeoutMS=5000,
                # A write on a half-open connection fails in time: the batch is retried
                # uncommitted on a fresh connection.
                timeoutMS=settings.mongodb_timeout_ms,
            )
            self._started.append(self._mongo.close)
            database = self._mongo[settings.mongodb_database]
            pointers = ServingPointers(database)
            served = (await self._until_available(self._read_pointer(pointers))).generation
            store = SaleProductStore(
                database, served if self.build is None else self.build.generation
            )
            await self._until_available(store.ensure_indexes)
            for collection in self.registry.keyed_collections():
                moved = await self._until_available(partial(store.migrate_keyed, collection))
                if moved:
                    log.info(
                        "keyed entries moved to their product's identity",
                        extra={"collection": collection, "entries": moved},
                    )
            self._producer = new_producer(settings.kafka, self._client_id)
            self._started.append(self._producer.stop)
            await self._until_available(self._start_kafka_client(self._producer))
            consumer = settings.kafka.consumer(
                *self.registry.topic_names(settings.topics),
                group_id=settings.materializer_group_id
                if self.build is None
                else self.build.group_id,
                client_id=self._client_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            self.consumer = consumer
            self._started.append(partial(stop_group_member, consumer))
            await self._until_available(self._start_kafka_client(consumer))
            writer = BatchWriter(
                store,
                FoldSettings(
                    settings.low_stock_threshold,
                    trending_half_life_s=settings.trending_half_life_s,
                    sources=self.registry.sources,
                    park_keys=settings.dlq_park_keys and self.build is None,
                    markets=frozenset(settings.markets.by_id),
                    default_market=settings.markets.default.id,
                ),
                self.metrics,
                DocumentCache(settings.materializer_document_cache_mb * MIB, self.metrics),
                version_floor=None if self.build is None else SaleProductStore(database, served),
            )
            follower = None
            if self.build is None:
                follower = GenerationFollower(
                    pointers,
                    self._client_id,
                    writer,
                    poll_interval_s=settings.pointer_poll_interval_ms / 1000,
                    lease_s=settings.switch_lease_s,
                    metrics=self.metrics,
                )
                await self._until_available(follower.start)
                self._started.append(follower.stop)
            self.loop = ConsumeLoop(
                consumer,
                self._producer,
                writer,
                settings,
                self.metrics,
                self.registry,
                follower=follower,
                publish=self.build is None,
                # A build publishes no dead letters, so it has nothing to park behind.
                parking=ParkingStore(database)
                if settings.dlq_park_keys and self.build is None
                else None,
            )
            self._starting = False
            log.info("materializer started", extra={"group": self.settings.materializer_group_id})
        except BaseException:
            await self.stop()
            raise

    async def _check_topics(self) -> None:
        settings = self.settings
        try:
            await check_topics(
                settings.kafka_bootstrap_servers,
                settings.topics,
                self._topic_needs,
                settings if settings.create_topics else None,
            )
        except KafkaError as error:
            raise TransientError("kafka", f"{type(error).__name__}: {error}") from error

    @staticmethod
    def _read_pointer(pointers: ServingPointers) -> Callable[[], Awaitable[Pointer]]:
        async def attempt() -> Pointer:
            try:
                return await pointers.read()
            except PyMongoError as error:
                raise TransientError("mongodb", f"serving pointer: {error}") from error

        return attempt

    def _start_kafka_client(self, client: KafkaClient) -> Callable[[], Awaitable[None]]:
        async def attempt() -> None:
            try:
                await start_kafka_client(client)
            except KafkaError as error:
                raise TransientError("kafka", f"{type(error).__name__}: {error}") from error

        return attempt

    async def _until_available(self, step: Callable[[], Awaitable[T]]) -> T:
        backoff = Backoff(
            self.settings.retry_backoff_initial_ms, self.settings.retry_backoff_max_ms
        )
        while True:
            try:
                return await step()
            except TransientError as error:
                log.warning("waiting for dependency", extra={"error": str(error)})
                self._waiting_for = error.dependency
                await asyncio.sleep(backoff.next_delay_s())

    def assignment(self) -> set[tuple[str, int]]:
        """The ``(topic, partition)`` pairs this member consumes right now."""
        return self.loop.assignment() if self.loop else set()

    async def run(self) -> None:
        """Consume until cancelled."""
        if self.loop is None:
            raise RuntimeError("start() the materializer first")
        await self.loop.run_forever()

    async def stop(self) -> None:
        """Leave the group and close every client, in reverse order of opening."""
        while self._started:
            closer = self._started.pop()
            try:
                await closer()
            except Exception:
                log.exception("error while stopping")

    async def readiness(self) -> list[str]:
        """The dependencies that do not answer right now (empty: ready)."""
        failing: list[str] = []
        if self._starting:
            failing.append(f"starting (waiting for {self._waiting_for or 'nothing'})")
        if self._mongo is None or not await self._answers(self._mongo.admin.command("ping")):
            failing.append("mongodb")
        metadata = (
            await self._answer(self._producer.client.fetch_all_metadata())
            if self._producer
            else None
        )
        if metadata is None:
            failing.append("kafka")
        else:
            failing += missing(metadata.topics(), self._topic_needs)
        outage = self.loop.failing_dependency if self.loop else None
        if outage and outage not in failing:
            failing.append(outage)
        self.metrics.ready.set(0 if failing else 1)
        return failing

    @staticmethod
    async def _answers(probe: Awaitable[object]) -> bool:
        return await Materializer._answer(probe) is not None

    @staticmethod
    async def _answer(probe: Awaitable[T]) -> T | None:
        try:
            return await asyncio.wait_for(probe, PROBE_TIMEOUT_S)
        except Exception:
            return None

    async def __aenter__(self) -> Materializer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
