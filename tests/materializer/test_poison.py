"""A bad record is that record's problem: through the real loop, each hostile record is
dead-lettered with its reason and the records after it still apply."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from shopwindow.kafka_clients import KafkaConnection
from shopwindow.materializer.errors import TransientError
from shopwindow.materializer.publishing import OutgoingRecord, RefusedRecord, send_all
from tests import kinds
from tests.helpers import Record, consume_all, eventually, running_materializer
from tests.materializer.conftest import World, at, catalog, price, stock_take


def stock_of(docs: dict[str, dict[str, Any]], product_id: str = "abc") -> Any:
    return docs.get(product_id, {}).get("stock", {}).get("quantity")


def hostile(topics: Any) -> list[tuple[str, Record]]:
    """(expected reason fragment, record) for each hostile record."""
    debezium = {"before": None, "after": catalog(), "op": "c", "ts_ms": 253402300800000}
    surrogate = b'{"product_id":"abc","name":"\\ud800","updated_at":"' + at(1).encode() + b'"}'
    return [
        ("ts_ms", (kinds.CATALOG.name_in(topics), "abc", debezium)),
        (
            "out of range",
            (kinds.CATALOG.name_in(topics), "abc", catalog(updated_at="9999-12-31T23:59:59-01:00")),
        ),
        ("surrogate", (kinds.CATALOG.name_in(topics), "abc", surrogate)),
        ("surrogate", (kinds.CATALOG.name_in(topics), "abc", catalog(attributes={"\ud800": 1}))),
        (
            "ahead of the record",
            (kinds.PRICES.name_in(topics), "abc", price(updated_at="9999-01-01T00:00:00Z")),
        ),
    ]


async def test_hostile_records_are_dead_lettered_and_the_product_keeps_flowing(
    world: World,
) -> None:
    topics = world.topics
    cases = hostile(topics)
    await world.produce(
        [(kinds.CATALOG.name_in(topics), "abc", catalog()), *(record for _, record in cases)]
        + [
            (kinds.INVENTORY.name_in(topics), "abc", stock_take(7)),
            (kinds.PRICES.name_in(topics), "abc", price()),
        ]
    )
    async with running_materializer(world.settings()):
        docs = await eventually(
            world.documents, lambda d: stock_of(d) == 7 and d["abc"]["price"] is not None
        )
        letters = await consume_all(
            world.stack.kafka_bootstrap_servers, topics.dead_letter, expect_at_least=len(cases)
        )
    reasons = {dict(x.headers)["dlq.offset"]: dict(x.headers)["dlq.reason"] for x in letters}
    assert len(reasons) == len(cases)
    for expected, _ in cases:
        assert any(expected.encode() in reason for reason in reasons.values()), expected
    assert docs["abc"]["catalog"]["name"] == "Trail shoe"
    assert docs["abc"]["price"]["updated_at"].year == 2024  # The 9999 price did not win.


async def test_a_record_the_broker_refuses_for_good_is_dead_lettered_not_retried(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def small_producer(kafka: KafkaConnection, client_id: str) -> AIOKafkaProducer:
        # The real client refuses records over max_request_size with the same
        # non-retriable MessageSizeTooLargeError a broker's limit gives.
        return AIOKafkaProducer(
            bootstrap_servers=kafka.bootstrap_servers,
            client_id=client_id,
            enable_idempotence=False,
            max_request_size=4000,
        )

    monkeypatch.setattr("shopwindow.materializer.service.new_producer", small_producer)
    topics = world.topics
    await world.produce(
        [
            (kinds.CATALOG.name_in(topics), "big", catalog("big", description="x" * 6000)),
            (kinds.CATALOG.name_in(topics), "abc", catalog()),
        ]
    )
    async with running_materializer(world.settings()) as materializer:
        letters = await consume_all(
            world.stack.kafka_bootstrap_servers, topics.dead_letter, expect_at_least=1
        )
        changelog = await consume_all(
            world.stack.kafka_bootstrap_servers, topics.changelog, expect_at_least=1
        )
        refused = materializer.metrics.registry.get_sample_value(
            "shopwindow_records_refused_total", {"topic": topics.changelog}
        )
    headers = dict(letters[0].headers)
    assert (letters[0].key, letters[0].value) == (b"big", None)
    assert headers["dlq.topic"] == topics.changelog.encode()
    assert b"MessageSizeTooLargeError" in headers["dlq.reason"]
    assert headers["dlq.sources"].startswith(kinds.CATALOG.name_in(topics).encode())
    assert {r.key for r in changelog} == {b"abc"}
    assert refused is not None and refused >= 1


async def test_a_tombstone_survives_a_failed_first_publish(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed_once: list[bool] = []

    async def flaky_send_all(
        producer: AIOKafkaProducer, records: Iterable[OutgoingRecord]
    ) -> list[RefusedRecord]:
        records = list(records)
        if not failed_once and any(r.value is None for r in records):
            failed_once.append(True)
            raise TransientError("kafka", "the broker went away before acknowledging")
        return await send_all(producer, records)

    monkeypatch.setattr("shopwindow.materializer.runner.send_all", flaky_send_all)
    topics = world.topics
    await world.produce([(kinds.CATALOG.name_in(topics), "abc", catalog())])
    async with running_materializer(world.settings()):
        await eventually(world.documents, lambda d: d.get("abc", {}).get("visible") is True)
        await world.produce([(kinds.CATALOG.name_in(topics), "abc", None)])
        records = await consume_all(
            world.stack.kafka_bootstrap_servers, topics.changelog, expect_at_least=2
        )
    assert failed_once
    assert records[-1].key == b"abc" and records[-1].value is None
