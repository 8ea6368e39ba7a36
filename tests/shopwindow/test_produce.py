"""``shopwindow produce``: an event is checked as the materializer reads it, then sent."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from shopwindow.devstack import DevStack
from shopwindow.materializer.sources import CORE
from shopwindow.produce import EventRefused, checked_event
from shopwindow.topics import TopicNames
from tests.helpers import run_command

STOCK_TAKE = {"product_id": "abc", "quantity": 42, "timestamp": "2026-01-01T00:00:00Z"}


def test_a_good_event_is_keyed_by_its_product_and_named_by_setting_or_topic() -> None:
    topics = TopicNames().with_prefix("t.")
    by_setting = checked_event(CORE, topics, "inventory", json.dumps(STOCK_TAKE), None)
    by_name = checked_event(CORE, topics, "t.inventory", json.dumps(STOCK_TAKE), "k")
    assert (by_setting.topic, by_setting.key) == ("t.inventory", b"abc")
    assert (by_name.topic, by_name.key) == ("t.inventory", b"k")
    assert json.loads(by_setting.value) == STOCK_TAKE


@pytest.mark.parametrize(
    ("topic", "text", "reason"),
    [  # The worst a newcomer could type.
        ("nope", json.dumps(STOCK_TAKE), "no source topic 'nope'; one of: catalog"),
        ("inventory", "{not json", "not JSON"),
        ("inventory", "", "not JSON"),
        ("inventory", "[]", "inventory refuses it"),
        ("inventory", "null", "inventory refuses it"),
        ("inventory", json.dumps({"product_id": "abc"}), "inventory refuses it"),
        ("inventory", json.dumps(STOCK_TAKE | {"quantity": "many"}), "inventory refuses it"),
        ("inventory", json.dumps(STOCK_TAKE | {"quantity": 10**30}), "inventory refuses it"),
        ("inventory", json.dumps(STOCK_TAKE | {"timestamp": "yesterday"}), "refuses it"),
        ("prices", json.dumps(STOCK_TAKE), "prices refuses it"),
        ("inventory", "9" * 100_000, "not JSON"),
        ("inventory", json.dumps(STOCK_TAKE | {"pad": "x" * 2_000_000}), None),
    ],
)
def test_what_the_materializer_would_dead_letter_is_refused_with_the_reason(
    topic: str, text: str, reason: str | None
) -> None:
    if reason is None:  # Extra fields are the source's business: accepted as sent.
        assert checked_event(CORE, TopicNames(), topic, text, None).key == b"abc"
        return
    with pytest.raises(EventRefused, match=reason):
        checked_event(CORE, TopicNames(), topic, text, None)


async def _run_cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    return await run_command(env, "produce", *args)


async def test_the_command_sends_a_good_event_and_refuses_a_bad_one(
    stack: DevStack, topics: TopicNames
) -> None:
    env: dict[str, Any] = {k: v for k, v in os.environ.items() if not k.startswith("SHOPWINDOW_")}
    env |= {
        "SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
        "SHOPWINDOW_TOPICS__INVENTORY": topics.source("inventory", "inventory"),
        "SHOPWINDOW_LOG_LEVEL": "WARNING",
    }
    code, out, err = await _run_cli(env, "inventory", json.dumps(STOCK_TAKE))
    assert code == 0, err
    assert out.startswith(f"sent to {env['SHOPWINDOW_TOPICS__INVENTORY']} (partition ")
    partition, offset = (
        int(n) for n in out.split("partition ")[1].rstrip(")\n").split(", offset ")
    )
    refused = await _run_cli(env, "inventory", json.dumps({"product_id": "abc"}))
    assert refused[0] == 2 and "inventory refuses it" in refused[2] and not refused[1]

    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.kafka_bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tp = TopicPartition(env["SHOPWINDOW_TOPICS__INVENTORY"], partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        record = await asyncio.wait_for(consumer.getone(), 20)
    finally:
        await consumer.stop()
    assert record.key == b"abc" and json.loads(record.value) == STOCK_TAKE
