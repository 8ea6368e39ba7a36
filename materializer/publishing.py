"""Publishing to Kafka: the changelog of SaleProduct documents and the dead-letter topic.

Each record's outcome is judged on its own. A retriable failure (broker down, leader
moving, timeout) fails the whole send so the batch is retried uncommitted; a record the
broker refuses for good (too large, corrupt) is handed back to the caller, which
dead-letters it, so it never stalls a partition.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from shopwindow.document import MAX_RECORD_BYTES, encode_changelog_value
from shopwindow.kafka_clients import KafkaConnection
from shopwindow.materializer.errors import TransientError
from shopwindow.materializer.events import Position

Headers = list[tuple[str, bytes]]

# Errors about the record itself: sending it again can never succeed. Anything else is
# about the cluster (down, moving, misconfigured) and is waited out.
_REFUSED_FOR_GOOD = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
)


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """One record to produce."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers


@dataclass(frozen=True, slots=True)
class RefusedRecord:
    """A record the broker will never accept, and why."""

    record: OutgoingRecord
    reason: str


async def send_all(
    producer: AIOKafkaProducer, records: Iterable[OutgoingRecord]
) -> list[RefusedRecord]:
    """Produce the records and wait until the brokers acknowledged each one.

    Returns:
        The records refused for good; every other record was acknowledged.

    Raises:
        TransientError: When any record failed for a reason that may pass; all may be
            sent again.
    """
    pending: list[tuple[OutgoingRecord, asyncio.Future[Any]]] = []
    refused: list[RefusedRecord] = []
    for record in records:
        try:
            future = await producer.send(
                record.topic, value=record.value, key=record.key, headers=record.headers
            )
        except KafkaError as error:
            refused.append(_refused_or_raise(record, error))
            continue
        pending.append((record, future))
    outcomes = await asyncio.gather(*(future for _, future in pending), return_exceptions=True)
    for (record, _), outcome in zip(pending, outcomes, strict=True):
        if isinstance(outcome, KafkaError):
            refused.append(_refused_or_raise(record, outcome))
        elif isinstance(outcome, BaseException):
            raise outcome
    return refused


def _refused_or_raise(record: OutgoingRecord, error: KafkaError) -> RefusedRecord:
    if isinstance(error, _REFUSED_FOR_GOOD) and not error.retriable:
        return RefusedRecord(record, f"{type(error).__name__}: {error}")
    raise TransientError("kafka", f"{type(error).__name__}: {error}") from error


def changelog_record(
    topic: str,
    product_id: str,
    doc: Mapping[str, Any],
    sections: Collection[str],
    value: bytes | None = None,
) -> OutgoingRecord:
    """The changelog record of a document: the public view, or a tombstone when the
    product is not visible (compaction then forgets it).

    Args:
        topic: The changelog topic.
        product_id: The record key.
        doc: The document.
        sections: The sections of installed sources, which the public view shows.
        value: The public view already encoded, if the caller has it.
    """
    if doc["visible"]:
        value = value if value is not None else encode_changelog_value(doc, sections)
    else:
        value = None
    headers = [("version", str(doc["version"]).encode())]
    return OutgoingRecord(topic, product_id.encode(), value, headers)


def progress_record(
    topic: str, source_topic: str, partition: int, next_offset: int
) -> OutgoingRecord:
    """A progress record: every record of ``source_topic``/``partition`` before
    ``next_offset`` is applied (written to MongoDB and announced). Keyed by the source
    partition on a compacted topic, so the latest is kept; gateways wait on it to read
    a client's own writes.
    """
    key = f"{source_topic}:{partition}".encode()
    value = orjson.dumps(
        {"topic": source_topic, "partition": partition, "next_offset": next_offset}
    )
    return OutgoingRecord(topic, key, value, [])


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that could not be applied, with why and where it came from."""

    position: Position
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    reason: str


def with_headers(record: OutgoingRecord, headers: Headers) -> OutgoingRecord:
    """``record`` with ``headers`` added (the same record when there are none)."""
    if not headers:
        return record
    return OutgoingRecord(record.topic, record.key, record.value, [*record.headers, *headers])


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


def refused_record_letter(
    topic: str, refused: RefusedRecord, sources: Sequence[Position] = ()
) -> OutgoingRecord:
    """A dead letter for a record the broker refused: its key and headers, without the
    value that could not be sent, naming the topic it was meant for and the source
    records behind it.

    Args:
        topic: The dead-letter topic.
        refused: The refused record.
        sources: Positions of the source records that produced it.
    """
    record = refused.record
    headers: Headers = [
        *record.headers,
        ("dlq.reason", f"refused by the broker: {refused.reason}".encode()),
        ("dlq.topic", record.topic.encode()),
        ("dlq.value_dropped", b"true"),
    ]
    if sources:
        listed = ",".join(f"{p.topic}:{p.partition}:{p.offset}" for p in sources)
        headers.append(("dlq.sources", listed.encode()))
    return OutgoingRecord(topic, record.key, None, headers)


def new_producer(kafka: KafkaConnection, client_id: str) -> AIOKafkaProducer:
    """A producer that waits for all in-sync replicas, sized for the largest changelog
    value a storable document can have.

    Idempotence is off: the Tansu stand-in rejects idempotent producers, and nothing
    here needs it, since changelog consumers drop copies by ``version`` and a repeated
    dead letter names its source offset.
    """
    return AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=False,
        linger_ms=5,
        request_timeout_ms=kafka.request_timeout_ms,
        max_request_size=MAX_RECORD_BYTES,
    )
