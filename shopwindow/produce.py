"""``shopwindow produce TOPIC JSON``: send one source event, checked first.

For demos, docs and trying things out: the event is decoded as the materializer would
decode it before it is sent, so a mistake is reported here, with the reason, instead
of landing on the dead-letter topic.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from shopwindow.kafka_clients import KafkaConnection
from shopwindow.kafka_start import start_kafka_client
from shopwindow.materializer.decode import decode_record
from shopwindow.materializer.publishing import new_producer
from shopwindow.materializer.sources import SourceRegistry
from shopwindow.materializer.sources.base import SourceTopic
from shopwindow.topics import TopicNames


class EventRefused(Exception):
    """The event would not be accepted; the message says why."""


@dataclass(frozen=True, slots=True)
class Event:
    """A checked event, ready to send."""

    topic: str
    key: bytes | None
    value: bytes


def checked_event(
    registry: SourceRegistry, topics: TopicNames, topic: str, text: str, key: str | None
) -> Event:
    """The event ``text`` for ``topic``, decoded as the materializer would.

    Args:
        registry: The declared sources.
        topics: The configured topic names.
        topic: A source's setting name (``inventory``) or its configured topic name.
        text: The event as JSON.
        key: The record key; by default the event's ``product_id``.

    Raises:
        EventRefused: An unknown topic, JSON that does not parse, or an event the
            source refuses.
    """
    declared = _topic(registry, topics, topic)
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise EventRefused(f"not JSON: {error}") from None
    if key is None and isinstance(data, dict) and isinstance(data.get("product_id"), str):
        key = data["product_id"]
    value = orjson.dumps(data)
    encoded_key = None if key is None else key.encode()
    try:
        decode_record(declared, encoded_key, value, [])
    except Exception as error:  # What the materializer would dead-letter, for any reason.
        raise EventRefused(f"{declared.setting} refuses it: {error}") from None
    return Event(declared.name_in(topics), encoded_key, value)


def _topic(registry: SourceRegistry, topics: TopicNames, name: str) -> SourceTopic:
    for declared in registry.topics:
        if name in (declared.setting, declared.name_in(topics)):
            return declared
    known = ", ".join(t.setting for t in registry.topics)
    raise EventRefused(f"no source topic {name!r}; one of: {known}")


async def send(bootstrap_servers: str, event: Event) -> tuple[int, int]:
    """Send ``event`` and wait for the broker; returns its partition and offset."""
    producer = new_producer(KafkaConnection(bootstrap_servers), "shopwindow-produce")
    await start_kafka_client(producer)
    try:
        sent = await producer.send_and_wait(event.topic, event.value, key=event.key)
    finally:
        await producer.stop()
    return sent.partition, sent.offset
