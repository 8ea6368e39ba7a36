"""Publishing to Kafka: the changelog of SaleProduct documents and the dead-letter topic."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from materializer.errors import TransientError
from materializer.events import Position
from shopwindow.document import encode_changelog_value

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """One record to produce."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers


async def send_all(producer: AIOKafkaProducer, records: Iterable[OutgoingRecord]) -> None:
    """Produce the records and wait until the brokers acknowledged every one.

    Raises:
        TransientError: When any record was not acknowledged; all may be sent again.
    """
    try:
        futures = [
            await producer.send(r.topic, value=r.value, key=r.key, headers=r.headers)
            for r in records
        ]
        if futures:
            await asyncio.gather(*futures)
    except KafkaError as error:
        raise TransientError("kafka", f"{type(error).__name__}: {error}") from error


def changelog_record(topic: str, product_id: str, doc: Mapping[str, Any]) -> OutgoingRecord:
    """The changelog record of a document: the public view, or a tombstone when the
    product is not visible (compaction then forgets it)."""
    value = encode_changelog_value(doc) if doc.get("visible") else None
    headers = [("version", str(doc["version"]).encode())]
    return OutgoingRecord(topic, product_id.encode(), value, headers)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that could not be applied, with why and where it came from."""

    position: Position
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    reason: str


def dead_letter_record(topic: str, letter: DeadLetter) -> OutgoingRecord:
    """The dead-letter record: the original key, value and headers plus ``dlq.*``
    headers naming the reason and the source position."""
    headers: Headers = [
        *letter.headers,
        ("dlq.reason", letter.reason.encode()),
        ("dlq.topic", letter.position.topic.encode()),
        ("dlq.partition", str(letter.position.partition).encode()),
        ("dlq.offset", str(letter.position.offset).encode()),
    ]
    return OutgoingRecord(topic, letter.key, letter.value, headers)


def new_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    """A producer that waits for all in-sync replicas.

    Idempotence is off: the Tansu stand-in rejects idempotent producers, and nothing
    here needs it, since changelog consumers drop copies by ``version`` and a repeated
    dead letter names its source offset.
    """
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=False,
        linger_ms=5,
        request_timeout_ms=15_000,
    )
