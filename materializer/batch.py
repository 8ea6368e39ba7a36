"""One consumed batch, decoded and grouped by product for the fold.

Pure: it takes records as ``(topic, partition, offset, timestamp, key, value, headers)``
and knows nothing of the Kafka client.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from shopwindow.materializer.decode import decode_record
from shopwindow.materializer.errors import PoisonEvent, poison_reason
from shopwindow.materializer.events import Position, SourcedEvent
from shopwindow.materializer.publishing import DeadLetter
from shopwindow.materializer.sources.base import Source, SourceTopic

Routes = Mapping[str, tuple[Source[Any], SourceTopic]]

RawRecord = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]


class SourceRecord(Protocol):
    """The fields of a consumed Kafka record the batch needs."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


@dataclass
class Batch:
    """A decoded batch.

    Attributes:
        events_by_product: Each product's events, one partition's in offset order.
        dead_letters: Records that cannot be applied.
        next_offsets: Per ``(topic, partition)``, the offset to commit once the batch is
            done (last offset + 1).
        consumed: Records per topic.
        originals: The key, value and headers of each record, for dead letters.
    """

    events_by_product: dict[str, list[SourcedEvent]] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    consumed: dict[str, int] = field(default_factory=dict)
    originals: dict[Position, RawRecord] = field(default_factory=dict)

    def dead_letter(self, position: Position, reason: str) -> DeadLetter:
        """A dead letter for the record at ``position``, with its original content."""
        key, value, headers = self.originals[position]
        return DeadLetter(position, key, value, headers, reason)


def build_batch(
    records: Iterable[SourceRecord],
    routes: Routes,
    max_future_skew: timedelta,
) -> Batch:
    """Decode records and group their events by product.

    Args:
        records: Consumed records, each partition's in offset order.
        routes: Each input topic's source and declaration.
        max_future_skew: How far an event's own time may lie ahead of its record's
            timestamp. A snapshot dated far ahead would win every later comparison and
            freeze its section, so it is refused.

    Returns:
        The batch; a record that raises anything while decoding becomes a dead letter.
    """
    by_product: defaultdict[str, list[SourcedEvent]] = defaultdict(list)
    batch = Batch()
    for record in records:
        position = Position(record.topic, record.partition, record.offset)
        batch.consumed[record.topic] = batch.consumed.get(record.topic, 0) + 1
        batch.next_offsets[(record.topic, record.partition)] = record.offset + 1
        headers = list(record.headers or ())
        batch.originals[position] = (record.key, record.value, headers)
        try:
            source, topic = routes[record.topic]
            decoded = decode_record(topic, record.key, record.value, headers)
            sourced = SourcedEvent(decoded.event, position, source, topic, decoded.event_id)
            _check_skew(sourced, record.timestamp, max_future_skew)
            product_ids = topic.product_ids(decoded.event)
        except Exception as error:
            # Whatever one record raises is that record's problem: a process that exits
            # here would stall its partitions for the whole group.
            batch.dead_letters.append(batch.dead_letter(position, poison_reason(error)))
            continue
        for product_id in product_ids:
            by_product[product_id].append(sourced)
    batch.events_by_product = dict(by_product)
    return batch


def _check_skew(sourced: SourcedEvent, record_timestamp_ms: int, max_skew: timedelta) -> None:
    when = sourced.time
    if when is None or record_timestamp_ms < 0:  # No time, or a record without one.
        return
    # In integer milliseconds: a producer may stamp any int64, far outside datetime.
    ahead_ms = round(when.timestamp() * 1000) - record_timestamp_ms
    if ahead_ms > max_skew / timedelta(milliseconds=1):
        raise PoisonEvent(
            f"event time {when.isoformat()} is {ahead_ms / 1000:g} s ahead of the record's "
            f"timestamp; at most {max_skew.total_seconds():g} s are allowed"
        )
