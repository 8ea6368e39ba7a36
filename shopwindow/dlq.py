"""``shopwindow dlq``: list, show, replay and discard dead letters, against Kafka.

``list`` groups the open letters by source topic and reason; ``show ID`` prints one
letter with its headers; ``replay`` sends the selected letters back to their source
topics (after a fix) and ``discard`` drops them, each with a progress bar, and both
record the outcome on the ledger topic. Replay is at-least-once: a letter replayed but
not yet recorded (the ledger write failed) is replayed again by the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr
from rich.progress import Progress

from shopwindow.dead_letters import (
    DeadLetter,
    Selection,
    dead_letter_of,
    groups,
    ledger_record,
    open_letters,
    replay_refusal,
    resolved_ids,
)
from shopwindow.kafka_clients import KafkaConnection
from shopwindow.kafka_start import start_kafka_client
from shopwindow.materializer.parking import RANK_HEADER, REPLAYED_HEADER, position_text
from shopwindow.materializer.parking_store import ParkingStore
from shopwindow.materializer.publishing import new_producer
from shopwindow.mongo import mongo_client
from shopwindow.topics import TopicNames

METADATA_TIMEOUT_S = 10.0


async def read_topic(bootstrap_servers: str, topic: str) -> list[Any]:
    """Every record of ``topic`` up to its end when called (a missing topic is empty)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        client_id="shopwindow-dlq",
    )
    try:
        # Inside: a consumer that failed to start is stopped too.
        await start_kafka_client(consumer)
        found = await asyncio.wait_for(consumer.topics(), METADATA_TIMEOUT_S)
        if topic not in found:
            return []
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[Any] = []
        # All partitions in one fetch loop: one partition's wait is not paid per partition.
        pending = [tp for tp in partitions if await consumer.position(tp) < ends[tp]]
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000, max_records=10_000)
            for tp in pending:
                records += batch.get(tp, [])
            pending = [tp for tp in pending if await consumer.position(tp) < ends[tp]]
        return records
    finally:
        await consumer.stop()


async def load_open(bootstrap_servers: str, topics: TopicNames) -> list[DeadLetter]:
    """The dead letters not yet replayed or discarded, oldest first per partition."""
    letters, ledger = await asyncio.gather(
        read_topic(bootstrap_servers, topics.dead_letter),
        read_topic(bootstrap_servers, topics.dead_letter_resolved),
    )
    resolved = resolved_ids((r.key, r.value) for r in ledger)
    read = [dead_letter_of(r.partition, r.offset, r.key, r.value, r.headers) for r in letters]
    return open_letters(read, resolved)


def listing(letters: Sequence[DeadLetter]) -> str:
    """``dlq list``: counts by source topic and reason, and a few ids of each."""
    if not letters:
        return "No open dead letters."
    lines = [f"{len(letters)} open dead letter(s)", "", f"{'count':>7}  topic / reason"]
    for topic, kind, count in groups(letters):
        ids = [x.id for x in letters if x.topic == topic and x.kind == kind]
        shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
        lines += [f"{count:>7}  {topic or '(unknown topic)'} / {kind}", f"{'':>9}ids: {shown}"]
    return "\n".join(lines)


def showing(letter: DeadLetter) -> str:
    """``dlq show``: one letter, its headers and its value."""
    where = f"{letter.topic} partition {letter.partition} offset {letter.offset}"
    lines = [
        f"dead letter {letter.id}",
        f"  from:    {where}",
        f"  reason:  {letter.reason}",
        f"  key:     {letter.key!r}",
    ]
    lines += [f"  header:  {name} = {value!r}" for name, value in letter.headers]
    if letter.value_dropped:
        lines.append("  value:   (not kept)")
    elif letter.value is None:
        lines.append("  value:   (none: a tombstone)")
    else:
        try:
            pretty = orjson.dumps(orjson.loads(letter.value), option=orjson.OPT_INDENT_2).decode()
        except orjson.JSONDecodeError:
            pretty = repr(letter.value[:4096])
        lines.append("  value:   " + pretty.replace("\n", "\n           "))
    return "\n".join(lines)


async def resolve(
    bootstrap_servers: str,
    topics: TopicNames,
    source_topics: set[str],
    letters: Sequence[DeadLetter],
    selection: Selection,
    replay: bool,
    on_discarded: Callable[[Sequence[DeadLetter]], Awaitable[None]] | None = None,
) -> list[str]:
    """Replay (``replay``) or discard the selected letters, recording each on the
    ledger; returns a line per letter that could not be replayed.

    A replayed record carries ``dlq.replayed`` naming the letter's source position and
    ``dlq.rank`` its place, so that a parked key (``SHOPWINDOW_DLQ_PARK_KEYS``) applies
    it in its turn; replays go out in that order.
    ``on_discarded`` hears of the discarded letters (to take them off parked keys)."""
    chosen = [letter for letter in letters if selection.matches(letter)]
    if replay:
        # In each product's order, whatever order the letters reached the topic in.
        chosen.sort(key=lambda letter: (letter.topic, letter.rank or (-1, -1)))
    problems = []
    action = "replayed" if replay else "discarded"
    producer = new_producer(KafkaConnection(bootstrap_servers), "shopwindow-dlq")
    await start_kafka_client(producer)
    try:
        with Progress() as progress:
            task = progress.add_task(f"{action[:-1]}ing", total=len(chosen))
            for letter in chosen:
                refusal = replay_refusal(letter, source_topics) if replay else None
                if refusal is not None:
                    problems.append(f"{letter.id}: not replayed: {refusal}")
                else:
                    if replay:
                        await producer.send_and_wait(
                            letter.topic,
                            letter.value,
                            key=letter.key,
                            headers=replay_headers(letter),
                        )
                    key, value = ledger_record(letter, action, datetime.now(UTC).isoformat())
                    await producer.send_and_wait(topics.dead_letter_resolved, value, key=key)
                progress.advance(task)
    finally:
        await producer.stop()
    if not replay and on_discarded is not None:
        await on_discarded(chosen)
    done = len(chosen) - len(problems)
    return [f"{done} of {len(chosen)} selected dead letter(s) {action}.", *problems]


def replay_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    """The headers a replayed record is sent with: the original ones, and which letter
    it replays (``partition:offset`` of the dead-lettered record)."""
    headers = list(letter.headers)
    if letter.partition is not None and letter.offset is not None:
        mark = position_text(letter.partition, letter.offset).encode()
        headers.append((REPLAYED_HEADER, mark))
    if letter.rank is not None:
        headers.append((RANK_HEADER, position_text(*letter.rank).encode()))
    return headers


@contextlib.asynccontextmanager
async def parked_keys(
    mongodb_uri: SecretStr | None, database: str
) -> AsyncIterator[Callable[[Sequence[DeadLetter]], Awaitable[None]] | None]:
    """What takes discarded letters off the keys they park, for ``resolve``; ``None``
    without MongoDB."""
    if mongodb_uri is None:
        yield None
        return
    client = mongo_client(mongodb_uri.get_secret_value(), "shopwindow-dlq")
    store = ParkingStore(client[database])

    async def unpark(letters: Sequence[DeadLetter]) -> None:
        by_topic: dict[str, set[str]] = {}
        for letter in letters:
            if letter.partition is not None and letter.offset is not None:
                where = position_text(letter.partition, letter.offset)
                by_topic.setdefault(letter.topic, set()).add(where)
        for topic, positions in by_topic.items():
            await store.discard(topic, positions)

    try:
        yield unpark
    finally:
        await client.close()
