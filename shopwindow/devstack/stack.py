"""Kafka and MongoDB for development and tests: the real ones if configured, else stand-ins."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from shopwindow.devstack.secantus import SecantusServer
from shopwindow.devstack.tansu import TansuBroker
from shopwindow.kafka_admin import create_topics
from shopwindow.materializer.sources import CORE, SourceRegistry
from shopwindow.topics import TopicNames


class DevStack:
    """Starts whatever of Kafka and MongoDB is not given, and stops what it started.

    Args:
        kafka_bootstrap_servers: A real cluster to use; ``None`` starts Tansu.
        mongodb_uri: A real server to use; ``None`` starts SecantusDB.
        mongodb_storage_path: SecantusDB's data directory; ``None`` keeps data in a
            temporary directory.
        log_dir: Where the stand-ins write their output.
        topics: Topics to create once Kafka answers; ``None`` creates none.
        partitions: Partition count of created topics.
        registry: The sources whose input topics are created.
    """

    def __init__(
        self,
        *,
        kafka_bootstrap_servers: str | None,
        mongodb_uri: str | None,
        mongodb_storage_path: Path | None,
        log_dir: Path,
        topics: TopicNames | None = None,
        partitions: int = 4,
        registry: SourceRegistry = CORE,
    ) -> None:
        self.broker = None if kafka_bootstrap_servers else TansuBroker(log_dir)
        self.database = None if mongodb_uri else SecantusServer(mongodb_storage_path, log_dir)
        self._kafka_bootstrap_servers = kafka_bootstrap_servers
        self._mongodb_uri = mongodb_uri
        self._topics = topics
        self._partitions = partitions
        self._registry = registry

    @property
    def kafka_bootstrap_servers(self) -> str:
        """Bootstrap list of the Kafka in use."""
        if self.broker:
            return self.broker.bootstrap_servers
        assert self._kafka_bootstrap_servers is not None
        return self._kafka_bootstrap_servers

    @property
    def mongodb_uri(self) -> str:
        """Connection string of the MongoDB in use."""
        if self.database:
            return self.database.uri
        assert self._mongodb_uri is not None
        return self._mongodb_uri

    async def start(self) -> None:
        """Start the stand-ins that are needed and create the topics."""
        try:
            if self.broker:
                await self.broker.start()
            if self.database:
                await self.database.start()
            if self._topics:
                await create_topics(
                    self.kafka_bootstrap_servers,
                    self._topics,
                    self._partitions,
                    self._registry.all_topics(self._topics),
                )
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop the stand-ins this stack started; real servers are left alone."""
        if self.database:
            await self.database.stop()
        if self.broker:
            await self.broker.stop()

    async def __aenter__(self) -> DevStack:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
