"""A stand-in for the materializer in gateway tests: fold, store, announce."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from pymongo import AsyncMongoClient

from shopwindow.devstack import DevStack
from shopwindow.document import COLLECTION
from shopwindow.materializer.decode import decode_record
from shopwindow.materializer.events import Position
from shopwindow.materializer.fold import FoldSettings, fold
from shopwindow.materializer.publishing import changelog_record
from shopwindow.materializer.sources import CORE
from shopwindow.materializer.sources.base import SourceTopic
from shopwindow.mongo import MongoDocument
from shopwindow.topics import TopicNames
from tests import kinds
from tests.helpers import encode


class Source:
    """Does what the materializer does: fold, store, then announce on the changelog."""

    def __init__(
        self,
        stack: DevStack,
        topics: TopicNames,
        mongo: AsyncMongoClient[MongoDocument],
        database: str,
    ) -> None:
        self._collection = mongo[database][COLLECTION]
        self._topic = topics.changelog
        self._producer = AIOKafkaProducer(
            bootstrap_servers=stack.kafka_bootstrap_servers,
            enable_idempotence=False,
            # Room for a burst of whole documents in one batch (apply_in_one_batch).
            max_batch_size=256 * 1024,
        )
        self._docs: dict[str, dict[str, Any]] = {}
        self._offsets = itertools.count()
        self.fold_settings = FoldSettings()

    async def apply(
        self, product_id: str, *events: tuple[SourceTopic, dict[str, Any] | None]
    ) -> dict[str, Any]:
        """Fold and store, then announce on the changelog."""
        doc = await self.apply_quietly(product_id, *events)
        record = changelog_record(self._topic, product_id, doc, CORE.sections)
        await self._producer.send_and_wait(
            record.topic, record.value, key=record.key, headers=record.headers
        )
        return doc

    async def apply_in_one_batch(
        self, product_id: str, changes: list[tuple[SourceTopic, dict[str, Any] | None]]
    ) -> int:
        """Fold each change separately but announce them all in one Kafka record batch,
        as a busy materializer would; returns the last version."""
        batch = self._producer.create_batch()
        for kind, value in changes:
            doc = await self.apply_quietly(product_id, (kind, value))
            record = changelog_record(self._topic, product_id, doc, CORE.sections)
            assert batch.append(
                key=record.key, value=record.value, timestamp=None, headers=record.headers
            )
        await (await self._producer.send_batch(batch, self._topic, partition=0))
        return int(doc["version"])

    async def apply_quietly(
        self, product_id: str, *events: tuple[SourceTopic, dict[str, Any] | None]
    ) -> dict[str, Any]:
        """Fold and store, without announcing."""
        sourced = [
            kinds.sourced_event(
                kind,
                decode_record(kind, product_id.encode(), encode(value)).event,
                Position(kind.setting, 0, next(self._offsets)),
            )
            for kind, value in events
        ]
        doc = fold(self._docs.get(product_id), product_id, sourced, self.fold_settings).document
        assert doc is not None
        self._docs[product_id] = doc
        await self._collection.replace_one({"_id": product_id}, doc, upsert=True)
        return doc

    async def announce(self, product_id: str) -> None:
        """Announce the stored document again, as a materializer retrying its batch does."""
        doc = self._docs[product_id]
        record = changelog_record(self._topic, product_id, doc, CORE.sections)
        await self._producer.send_and_wait(
            record.topic, record.value, key=record.key, headers=record.headers
        )


def fail_changelog_fetch_once(
    monkeypatch: pytest.MonkeyPatch, client_id: str = "shopwindow-gateway-live"
) -> list[bool]:
    """Make the next Kafka fetch of the consumer ``client_id`` fail, as a broker going
    away would: that reader restarts (by default the changelog hub). Returns a list that
    holds one item once the fetch has failed."""
    real_getmany = AIOKafkaConsumer.getmany
    failures: list[bool] = []

    async def getmany_failing_once(self: AIOKafkaConsumer, *args: Any, **kwargs: Any) -> Any:
        if not failures and self._client._client_id == client_id:
            failures.append(True)
            raise KafkaConnectionError("the broker went away")
        return await real_getmany(self, *args, **kwargs)

    monkeypatch.setattr(AIOKafkaConsumer, "getmany", getmany_failing_once)
    return failures
