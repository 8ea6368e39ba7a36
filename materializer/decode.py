"""Kafka record bytes -> one validated event of the topic's source.

The envelope (plain JSON, Debezium, outbox) comes off in ``envelope``; the topic's
declared decoder validates what is inside. Anything a bad record raises here is a
``PoisonEvent`` or a validation error, which the batch dead-letters with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from shopwindow.materializer.envelope import event_id_header, unwrap
from shopwindow.materializer.errors import PoisonEvent
from shopwindow.materializer.sources.base import SourceTopic

__all__ = ["DecodedRecord", "PoisonEvent", "decode_record"]


@dataclass(frozen=True, slots=True)
class DecodedRecord:
    """The event in a record and the source's event id, if it gave one."""

    event: BaseModel
    event_id: str | None


def decode_record(
    topic: SourceTopic,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]] = (),
) -> DecodedRecord:
    """Decode one Kafka record of a source topic.

    Args:
        topic: The declaration of the topic the record came from.
        key: The record key.
        value: The record value; ``None`` is a tombstone.
        headers: The record headers; an ``id`` header is the source's event id.

    Returns:
        The event and the source's event id.

    Raises:
        PoisonEvent: When the record can never be applied.
    """
    event = topic.decode(unwrap(key, value))
    return DecodedRecord(event, event_id_header(headers))
