"""``shopwindow status``: what an operator asks first, in one command.

The serving generation and any rebuild in progress, each consumer group's lag per
topic, how fresh the newest writes are, the open dead letters by reason, the
changelog's end offsets and, for each ``--gateways`` URL, its readiness, changelog lag
and cache figures. Each part is read on its own under a timeout: an unreachable part is
shown as such, with why, and the rest still prints.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from shopwindow.dead_letters import groups
from shopwindow.dlq import load_open
from shopwindow.generations import products_collection
from shopwindow.kafka_start import start_kafka_client
from shopwindow.materializer.sources import SourceRegistry
from shopwindow.mongo import mongo_client
from shopwindow.serving import ServingPointers
from shopwindow.settings import StatusSettings

# How many of the newest writes the freshness figures are taken from.
NEWEST_WRITES = 200


@dataclass
class Part:
    """One part of the status: its rows, or why it could not be read.

    Attributes:
        title: What it shows.
        columns: The names of its columns.
        rows: Its rows, one value per column.
        error: Why it could not be read; the rows are empty then.
    """

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The part for ``--json``: its rows as objects, or its error."""
        if self.error is not None:
            return {"title": self.title, "error": self.error}
        return {
            "title": self.title,
            "rows": [dict(zip(self.columns, r, strict=True)) for r in self.rows],
        }


Reader = Callable[[], Awaitable[list[tuple[Any, ...]]]]


async def _part(title: str, columns: tuple[str, ...], read: Reader, timeout_s: float) -> Part:
    try:
        rows = await asyncio.wait_for(read(), timeout_s)
    except TimeoutError:
        return Part(title, columns, error=f"unreachable: no answer within {timeout_s:g} s")
    except Exception as error:  # Any failure of one part is shown; the others go on.
        return Part(title, columns, error=f"unreachable: {type(error).__name__}: {error}")
    return Part(title, columns, rows)


class StatusReader:
    """Reads every part of the status from the servers the settings name.

    Args:
        settings: Where Kafka and MongoDB are, and the materializer's group.
        registry: The installed sources, whose topics the lag is shown for.
        gateways: Base URLs of gateways to ask (``http://gateway:8000``).
    """

    def __init__(
        self, settings: StatusSettings, registry: SourceRegistry, gateways: Sequence[str] = ()
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._gateways = [url.rstrip("/") for url in gateways]
        self._timeout_s = settings.status_timeout_ms / 1000

    async def read(self) -> list[Part]:
        """Every part, read concurrently, each under the timeout."""
        timeout = self._timeout_s
        parts = [
            _part(
                "Serving",
                ("generation", "previous", "building", "switch", "members"),
                self._serving,
                timeout,
            ),
            _part("Consumer lag", ("group", "topic", "lag"), self._lag, timeout),
            _part(
                "Freshness of the newest writes",
                ("writes", "p50 s", "max s", "newest write"),
                self._freshness,
                timeout,
            ),
            _part("Open dead letters", ("topic", "reason", "count"), self._dead_letters, timeout),
            _part("Changelog end offsets", ("partition", "end offset"), self._changelog, timeout),
            *(
                _part(
                    f"Gateway {_printable(url)}",
                    (
                        "ready",
                        "changelog current",
                        "document cache hits",
                        "document cache misses",
                        "documents cached",
                        "response cache hits",
                    ),
                    partial(self._gateway, url),
                    timeout,
                )
                for url in self._gateways
            ),
        ]
        return list(await asyncio.gather(*parts))

    async def _serving(self) -> list[tuple[Any, ...]]:
        client = self._mongo()
        try:
            pointer = await ServingPointers(client[self._settings.mongodb_database]).read()
        finally:
            await client.close()
        switch = f"{pointer.switch.state} to {pointer.switch.target}" if pointer.switch else "-"
        return [
            (pointer.generation, pointer.previous, pointer.building, switch, len(pointer.members))
        ]

    async def _lag(self) -> list[tuple[Any, ...]]:
        topics = self._registry.topic_names(self._settings.topics)
        client = self._mongo()
        try:
            pointer = await ServingPointers(client[self._settings.mongodb_database]).read()
        finally:
            await client.close()
        rows = []
        for group in [self._settings.materializer_group_id, *pointer.groups.values()]:
            # A consumer of the group that never joins it: it reads the committed offsets
            # without taking part in a rebalance.
            consumer = self._consumer(group)
            try:
                # Inside: one that failed to start is stopped too.
                await start_kafka_client(consumer)
                await consumer.topics()
                partitions = [
                    TopicPartition(t, p)
                    for t in topics
                    for p in consumer.partitions_for_topic(t) or ()
                ]
                ends = await consumer.end_offsets(partitions)
                for topic in topics:
                    behind = 0
                    for tp in (tp for tp in partitions if tp.topic == topic):
                        behind += ends[tp] - ((await consumer.committed(tp)) or 0)
                    rows.append((group, topic, behind))
            finally:
                await consumer.stop()
        return rows

    async def _freshness(self) -> list[tuple[Any, ...]]:
        client = self._mongo()
        try:
            database = client[self._settings.mongodb_database]
            served = (await ServingPointers(database).read()).generation
            cursor = (
                database[products_collection(served)]
                .find({"materialized_at": {"$ne": None}}, {"materialized_at": 1, "updated_at": 1})
                .sort("materialized_at", -1)
                .limit(NEWEST_WRITES)
            )
            docs = await cursor.to_list(NEWEST_WRITES)
        finally:
            await client.close()
        delays = sorted(
            (d["materialized_at"] - d["updated_at"]).total_seconds()
            for d in docs
            if isinstance(d.get("updated_at"), datetime)
        )
        if not delays:
            return [(0, None, None, None)]
        newest = max(d["materialized_at"] for d in docs)
        return [
            (
                len(delays),
                round(delays[len(delays) // 2], 3),
                round(delays[-1], 3),
                newest.astimezone(UTC).isoformat(timespec="seconds"),
            )
        ]

    async def _dead_letters(self) -> list[tuple[Any, ...]]:
        letters = await load_open(self._settings.kafka_bootstrap_servers, self._settings.topics)
        return [tuple(group) for group in groups(letters)]

    async def _changelog(self) -> list[tuple[Any, ...]]:
        consumer = self._consumer()
        try:
            await start_kafka_client(consumer)
            topic = self._settings.topics.changelog
            if topic not in await consumer.topics():
                raise LookupError(f"topic {topic} does not exist")
            partitions = [
                TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            ends = await consumer.end_offsets(partitions)
            return [(tp.partition, ends[tp]) for tp in partitions]
        finally:
            await consumer.stop()

    async def _gateway(self, url: str) -> list[tuple[Any, ...]]:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            # urllib would read file:// and ftp:// URLs too.
            raise ValueError(f"not an http(s) URL: {url[:200]!r}")
        readyz, metrics = await asyncio.gather(
            asyncio.to_thread(_get, f"{url}/readyz", self._timeout_s),
            asyncio.to_thread(_get, f"{url}/metrics", self._timeout_s),
        )
        status, body = readyz
        ready = (
            "yes" if status == 200 else f"no: {', '.join(orjson.loads(body).get('failing', []))}"
        )
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(metrics[1].decode())
            for s in family.samples
        }

        def value(name: str, **labels: str) -> Any:
            found = samples.get((name, tuple(sorted(labels.items()))))
            return None if found is None else int(found)

        return [
            (
                ready,
                {1: "yes", 0: "no"}.get(value("shopwindow_changelog_reader_current"), "?"),
                value("shopwindow_document_cache_lookups_total", result="hit"),
                value("shopwindow_document_cache_lookups_total", result="miss"),
                value("shopwindow_document_cache_documents"),
                value("shopwindow_response_cache_lookups_total", result="hit"),
            )
        ]

    def _mongo(self) -> Any:
        return mongo_client(
            self._settings.mongodb_uri.get_secret_value(),
            "shopwindow-status",
            serverSelectionTimeoutMS=int(self._timeout_s * 1000),
        )

    def _consumer(self, group: str | None = None) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap_servers,
            group_id=group,
            enable_auto_commit=False,
            client_id="shopwindow-status",
            request_timeout_ms=int(self._timeout_s * 1000),
        )


def _get(url: str, timeout_s: float) -> tuple[int, bytes]:
    # A 503 from /readyz is an answer, not a failure.
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def as_json(parts: Sequence[Part]) -> str:
    """The status for scripts: one JSON object, every part by its title."""
    return orjson.dumps({"parts": [p.as_json() for p in parts]}, default=str).decode()


def tables(parts: Sequence[Part]) -> list[Any]:
    """The status as ``rich`` tables, an unreachable part as its reason in red."""
    from rich.table import Table
    from rich.text import Text

    shown: list[Any] = []
    for part in parts:
        if part.error is not None:
            shown.append(Text(f"{part.title}: {part.error}", style="bold red"))
            continue
        table = Table(title=part.title, title_justify="left")
        for column in part.columns:
            table.add_column(column)
        for row in part.rows:
            table.add_row(*("-" if v is None else str(v) for v in row))
        shown.append(table)
    return shown


def _printable(text: str) -> str:
    # An argument of bytes that are not UTF-8 arrives with lone surrogates, which no
    # terminal or JSON encoder takes.
    return text.encode("utf-8", "backslashreplace").decode()
