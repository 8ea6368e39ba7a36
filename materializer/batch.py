"""One consumed batch, decoded and grouped by product for the fold.

Pure: it takes records as ``(topic, partition, offset, key, value, headers)`` and knows
nothing of the Kafka client.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from materializer.decode import PoisonEvent, SourceKind, decode_record
from materializer.events import Position, SourcedEvent, product_ids_of
from materializer.publishing import DeadLetter

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


def build_batch(records: Iterable[SourceRecord], kinds: Mapping[str, SourceKind]) -> Batch:
    """Decode records and group their events by product.

    Args:
        records: Consumed records, each partition's in offset order.
        kinds: What each source topic carries.

    Returns:
        The batch; a record that fails to decode becomes a dead letter.
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
            decoded = decode_record(kinds[record.topic], record.key, record.value, headers)
        except PoisonEvent as poison:
            batch.dead_letters.append(batch.dead_letter(position, poison.reason))
            continue
        sourced = SourcedEvent(decoded.event, position, decoded.event_id)
        for product_id in product_ids_of(decoded.event):
            by_product[product_id].append(sourced)
    batch.events_by_product = dict(by_product)
    return batch
