"""Dead letters as the dlq command reads them: pure parts table-driven, then the
command against the broker."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from shopwindow.dead_letters import (
    DeadLetter,
    Selection,
    dead_letter_of,
    groups,
    replay_refusal,
    resolved_ids,
)
from shopwindow.devstack import DevStack
from shopwindow.kafka_clients import KafkaConnection
from shopwindow.materializer.events import Position
from shopwindow.materializer.publishing import (
    DeadLetter as Letter,
)
from shopwindow.materializer.publishing import (
    dead_letter_record,
    new_producer,
)
from shopwindow.topics import TopicNames
from tests.helpers import run_command


def letter(reason: str = "InventoryDelta failed validation: x", topic: str = "inventory") -> Any:
    headers = [("id", b"e1"), ("dlq.reason", reason.encode()), ("dlq.topic", topic.encode())]
    headers += [("dlq.partition", b"2"), ("dlq.offset", b"41")]
    return dead_letter_of(0, 7, b"abc", b"{}", headers)


def test_a_dead_letter_is_read_from_its_headers() -> None:
    read = letter()
    assert (read.id, read.topic, read.partition, read.offset) == ("0:7", "inventory", 2, 41)
    assert read.headers == (("id", b"e1"),) and read.kind == "InventoryDelta failed validation"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [  # Whatever arrives in the headers, the letter is still listed.
        ([], ("", "", None, None)),
        (
            [("dlq.reason", b"\xff\xfe"), ("dlq.topic", b"\xff")],
            ("\ufffd\ufffd", "\ufffd", None, None),
        ),
        ([("dlq.partition", b"-1"), ("dlq.offset", b"9" * 40)], ("", "", None, None)),
        ([("dlq.partition", "١".encode()), ("dlq.offset", b" 3")], ("", "", None, None)),
        ([("dlq.reason", b"no colon here")], ("no colon here", "", None, None)),
    ],
)
def test_hostile_headers_read_as_unknown(
    headers: list[tuple[str, bytes]], expected: tuple[Any, ...]
) -> None:
    read = dead_letter_of(1, 2, None, None, headers)
    assert (read.reason, read.topic, read.partition, read.offset) == expected
    assert read.kind


def test_groups_count_by_topic_and_reason_kind() -> None:
    letters = [letter(), letter("InventoryDelta failed validation: y"), letter("invalid JSON: z")]
    assert groups(letters) == [
        ("inventory", "InventoryDelta failed validation", 2),
        ("inventory", "invalid JSON", 1),
    ]


def test_a_selection_must_say_which_letters() -> None:
    with pytest.raises(ValueError, match="say which"):
        Selection()
    assert Selection(reason="invalid").matches(letter("invalid JSON: z"))
    assert not Selection(reason="invalid", topic="prices").matches(letter("invalid JSON: z"))
    assert Selection(ids=frozenset({"0:7"})).matches(letter())
    assert Selection(every=True).matches(letter())


def test_the_newest_ledger_record_of_a_letter_wins() -> None:
    ledger = [(b"0:1", b"{}"), (b"0:2", b"{}"), (b"0:2", None), (None, b"{}")]
    assert resolved_ids(ledger) == {"0:1"}


@pytest.mark.parametrize(
    ("read", "refusal"),
    [
        (letter(), None),
        (letter(topic="saleproduct.changes"), "is not a source topic"),
        (letter(topic=""), "(unknown topic) is not a source topic"),
        (
            dead_letter_of(
                0, 1, b"k", None, [("dlq.topic", b"inventory"), ("dlq.value_dropped", b"true")]
            ),
            "not kept",
        ),
    ],
)
def test_only_kept_letters_of_source_topics_are_replayed(
    read: DeadLetter, refusal: str | None
) -> None:
    found = replay_refusal(read, {"inventory", "prices"})
    assert found is None if refusal is None else refusal in (found or "")


async def _dlq(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    return await run_command(env, "dlq", *args)


async def test_list_show_replay_and_discard_against_the_broker(
    stack: DevStack, topics: TopicNames
) -> None:
    inventory = topics.source("inventory", "inventory")
    producer = new_producer(KafkaConnection(stack.kafka_bootstrap_servers), "test")
    await producer.start()
    try:
        for n, (reason, topic) in enumerate(
            [
                ("InventoryDelta failed validation: quantity_change", inventory),
                ("InventoryDelta failed validation: timestamp", inventory),
                ("invalid JSON: expected value", inventory),
                ("ValueError: bad", topics.changelog),  # Not a source topic.
            ]
        ):
            dead = Letter(
                Position(topic, 0, 100 + n), b"abc", b'{"n": %d}' % n, [("id", b"e%d" % n)], reason
            )
            record = dead_letter_record(topics.dead_letter, dead)
            await producer.send_and_wait(
                record.topic, record.value, key=record.key, headers=record.headers, partition=0
            )
    finally:
        await producer.stop()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPWINDOW_")}
    env |= {
        "SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
        "SHOPWINDOW_TOPICS__DEAD_LETTER": topics.dead_letter,
        "SHOPWINDOW_TOPICS__DEAD_LETTER_RESOLVED": topics.dead_letter_resolved,
        "SHOPWINDOW_TOPICS__INVENTORY": inventory,
        "SHOPWINDOW_TOPICS__CHANGELOG": topics.changelog,
        "SHOPWINDOW_LOG_LEVEL": "WARNING",
    }
    code, out, _ = await _dlq(env, "list")
    assert code == 0 and "4 open dead letter(s)" in out
    assert f"2  {inventory} / InventoryDelta failed validation" in out
    code, out, _ = await _dlq(env, "show", "0:2")
    assert code == 0 and "reason:  invalid JSON: expected value" in out and "id = b'e2'" in out
    assert (await _dlq(env, "show", "9:9"))[0] == 2
    assert (await _dlq(env, "replay"))[0] == 2  # Which letters? Refused.

    code, out, _ = await _dlq(env, "replay", "--reason", "InventoryDelta")
    assert code == 0 and "2 of 2 selected dead letter(s) replayed." in out
    code, out, _ = await _dlq(env, "replay", "--all")
    assert "1 of 2 selected" in out and "is not a source topic" in out
    code, out, _ = await _dlq(env, "list")
    assert "1 open dead letter(s)" in out and "ValueError" in out
    code, out, _ = await _dlq(env, "discard", "--all")
    assert "1 of 1 selected dead letter(s) discarded." in out
    assert "No open dead letters." in (await _dlq(env, "list"))[1]

    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap_servers)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(inventory, p) for p in consumer.partitions_for_topic(inventory) or ()
        ]
        if not partitions:
            await consumer.topics()
            partitions = [
                TopicPartition(inventory, p) for p in consumer.partitions_for_topic(inventory) or ()
            ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        replayed: list[Any] = []
        while len(replayed) < 3:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 20)
            replayed += [r for records in batch.values() for r in records]
    finally:
        await consumer.stop()
    assert sorted(json.loads(r.value)["n"] for r in replayed) == [0, 1, 2]
    assert all(r.key == b"abc" and dict(r.headers).get("id") for r in replayed)
    # Of the letter's own headers, only which letter a replay stands for, and its place
    # (a parked product applies it in turn).
    for record in replayed:
        ours = {n: v for n, v in record.headers if n.startswith("dlq.")}
        n = json.loads(record.value)["n"]
        assert ours == {"dlq.replayed": b"0:%d" % (100 + n), "dlq.rank": b"0:%d" % (100 + n)}


@pytest.mark.parametrize(
    ("rank", "read"),
    [
        (None, (3, 17)),  # Its own source position.
        (b"0:5", (0, 5)),  # Parked again after a replay: the replayed letter's place.
        (b"0:-5", (3, 17)),
        (b"x:y", (3, 17)),
        (b"1:99999999999999999999999", (3, 17)),
        (b"\xff:1", (3, 17)),
        (b"", (3, 17)),
    ],
)
def test_a_letters_rank_is_its_dlq_rank_header_when_well_formed(
    rank: bytes | None, read: tuple[int, int]
) -> None:
    headers = [("dlq.partition", b"3"), ("dlq.offset", b"17")]
    if rank is not None:
        headers.append(("dlq.rank", rank))
    assert dead_letter_of(0, 1, b"k", b"{}", headers).rank == read
