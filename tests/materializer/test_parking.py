"""Parking a product's events behind its open dead letters (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopwindow.materializer.batch import Batch, build_batch
from shopwindow.materializer.fold import FoldSettings
from shopwindow.materializer.isolation import fold_isolating
from shopwindow.materializer.parking import (
    REPLAYED_HEADER,
    ParkKey,
    identity_of,
    letters_opened,
    merge_letters,
    plan_parking,
    undecodable,
)
from shopwindow.materializer.sources import CORE
from shopwindow.topics import TopicNames
from tests.fuzz import SCALE
from tests.helpers import encode
from tests.materializer.conftest import delta

TOPICS = TopicNames()
INVENTORY = TOPICS.source("inventory", "inventory")
ORDERS = TOPICS.source("orders", "orders")


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp: int = -1


def stock(
    offset: int, product: str = "abc", partition: int = 0, replay: str | None = None
) -> Record:
    # surrogateescape: a test can name bytes that are not UTF-8.
    headers = [(REPLAYED_HEADER, replay.encode("utf-8", "surrogateescape"))] if replay else []
    return Record(
        INVENTORY, partition, offset, product.encode(), encode(delta(-1, product)), headers
    )


def broken(offset: int, product: str = "abc") -> Record:
    return Record(INVENTORY, 0, offset, product.encode(), b"{not json", [])


def order(offset: int, *products: str) -> Record:
    value = {
        "order_id": f"o{offset}",
        "product_ids": list(products),
        "timestamp": "2024-06-18T12:00:00Z",
    }
    return Record(ORDERS, 0, offset, b"o", encode(value), [])


def batch_of(*records: Record) -> Batch:
    return build_batch(records, CORE.routes(TOPICS), timedelta(minutes=5))


def key(product: str = "abc", partition: int = 0, topic: str = INVENTORY) -> ParkKey:
    return ParkKey(topic, partition, product)


def parked_offsets(plan: Any, product: str = "abc") -> list[int]:
    return [s.position.offset for p, s, _ in plan.parked if p == product]


@pytest.mark.parametrize(
    ("records", "open_letters", "parked", "opened", "closed"),
    [
        pytest.param([stock(7)], {}, [], set(), set(), id="nothing parked: applies"),
        pytest.param(
            [stock(3), stock(7)], {key(): {"0:5"}}, [7], {"0:7"}, set(), id="behind a hole only"
        ),
        pytest.param(
            [stock(9, replay="0:5"), stock(10)],
            {key(): {"0:5"}},
            [],
            set(),
            {"0:5"},
            id="the oldest letter replayed applies, and unparks the key",
        ),
        pytest.param(
            [stock(9, replay="0:7"), stock(10)],
            {key(): {"0:5", "0:7"}},
            [9, 10],
            {"0:7@0:9", "0:10"},
            {"0:7"},
            id="a younger letter replayed first waits again, in its place",
        ),
        pytest.param(
            [stock(9, replay="0:5"), stock(10)],
            {key(): {"0:5", "0:7"}},
            [10],
            {"0:10"},
            {"0:5"},
            id="after the oldest, the key still waits for the next",
        ),
        pytest.param(
            [stock(12, replay="0:9"), stock(13, replay="0:6")],
            {key(): {"0:7@0:9", "0:6"}},
            [12],
            {"0:7@0:12"},
            {"0:7@0:9", "0:6"},
            id="a letter parked again keeps its place behind an older one",
        ),
        pytest.param(
            [stock(5)],
            {key(): {"0:5"}},
            [],
            set(),
            set(),
            id="a redelivered letter goes to the writer again",
        ),
        pytest.param(
            [stock(7, product="other"), stock(8, partition=1)],
            {key(): {"0:5"}},
            [],
            set(),
            set(),
            id="other products and other partitions go on",
        ),
        pytest.param(
            [stock(9, replay="not a position"), stock(10)],
            {key(): {"0:5"}},
            [9, 10],
            {"0:9", "0:10"},
            set(),
            id="a forged replay mark is an ordinary record",
        ),
        pytest.param(
            [stock(9, replay="\udcff:5"), stock(10, replay="5:99999999999999999999999999")],
            {key(): {"0:5"}},
            [9, 10],
            {"0:9", "0:10"},
            set(),
            id="a mark that is not text, or names no letter, is an ordinary record",
        ),
    ],
)
def test_events_wait_behind_their_keys_open_letters(
    records: list[Record],
    open_letters: dict[ParkKey, set[str]],
    parked: list[int],
    opened: set[str],
    closed: set[str],
) -> None:
    plan = plan_parking(batch_of(*records), open_letters)
    assert parked_offsets(plan) == parked
    assert plan.opened.get(key(), set()) == opened
    assert plan.closed.get(key(), set()) == closed


def test_a_record_that_fails_to_decode_parks_its_keys_later_events_in_the_batch() -> None:
    batch = batch_of(stock(3), broken(4), stock(6), stock(7, product="other"))
    failed = undecodable(batch)
    assert failed == {key(): {4}}
    plan = plan_parking(batch, {}, failed)
    assert parked_offsets(plan) == [6] and parked_offsets(plan, "other") == []


def test_an_event_of_several_products_waits_for_the_parked_ones_only() -> None:
    plan = plan_parking(batch_of(order(9, "abc", "xyz")), {key(topic=ORDERS): {"0:2"}})
    assert parked_offsets(plan, "abc") == [9] and parked_offsets(plan, "xyz") == []


def test_a_refused_replay_opens_its_letter_where_its_original_came_from() -> None:
    batch = batch_of(stock(40, partition=2, replay="0:5"))
    position = batch.events_by_product["abc"][0].position
    # Let through as its letter's turn (the plan's rank): where the letter came from.
    assert letters_opened(batch, [(position, "abc")], {position: "0:5"}) == {key(): {"0:5@2:40"}}
    # Naming no open letter, its mark counts for nothing: a forged one moves no record.
    assert letters_opened(batch, [(position, "abc")]) == {key(partition=2): {"2:40"}}


def test_a_replay_refused_by_the_writer_keeps_its_letters_place() -> None:
    batch = batch_of(stock(40, replay="0:5"))
    plan = plan_parking(batch, {key(): {"0:5", "0:7"}})
    assert plan.parked == [] and plan.closed == {key(): {"0:5"}}
    position = batch.events_by_product["abc"][0].position
    assert letters_opened(batch, [(position, "abc")], plan.ranks) == {key(): {"0:5@0:40"}}


@pytest.mark.parametrize("park", [True, False])
def test_the_fold_leaves_a_refused_events_later_partition_mates_out_when_parking(
    park: bool,
) -> None:
    batch = batch_of(stock(1), stock(2), stock(3), stock(4, partition=1))
    events = batch.events_by_product["abc"]
    settings = FoldSettings(park_keys=park)
    result = fold_isolating(None, "abc", events, settings, _refuse_offset(2))
    refused = [(s.position.offset, reason.startswith("parked")) for s, reason in result.refused]
    applied = [s.position.offset for s in result.result.applied]
    if park:
        assert refused == [(2, False), (3, True)] and applied == [1, 4]
    else:
        assert refused == [(2, False)] and applied == [1, 3, 4]


def _refuse_offset(offset: int) -> Any:
    # Refuses the document right after the event at ``offset`` was folded into it.
    def refusal(doc: dict[str, Any]) -> str | None:
        applied = doc["_meta"]["applied"]
        return "refused" if any(value == offset for value in applied.values()) else None

    return refusal


def numbered(offset: int, seq: int, replay: str | None = None) -> Record:
    headers = [(REPLAYED_HEADER, replay.encode())] if replay else []
    value = {
        "product_id": "abc",
        "quantity_change": -1,
        "timestamp": f"2024-06-18T12:00:{seq % 60:02d}Z",
    }
    return Record(INVENTORY, 0, offset, b"abc", encode({**value, "seq": seq}), headers)


@settings(max_examples=200 * SCALE, deadline=None)
@given(
    poison=st.lists(st.booleans(), min_size=1, max_size=12),
    batch_sizes=st.lists(st.integers(min_value=1, max_value=4), min_size=40, max_size=40),
    replay_order=st.randoms(use_true_random=False),
)
def test_any_batching_and_any_replay_order_applies_the_good_events_in_order_once(
    poison: list[bool], batch_sizes: list[int], replay_order: Any
) -> None:
    # The log of one partition: good events carry their sequence number; poison ones
    # cannot be decoded. Letters are replayed in random order, round after round, and
    # the poison ones discarded, until none is open.
    log: list[Record] = []
    for seq, bad in enumerate(poison):
        log.append(broken(len(log)) if bad else numbered(len(log), seq))
    letters: dict[str, Record] = {}  # Open letters by position, as the DLQ holds them.
    open_store: dict[ParkKey, set[str]] = {}
    applied: list[int] = []
    consumed = 0
    sizes = iter(batch_sizes * 10)

    def consume() -> None:
        nonlocal consumed
        while consumed < len(log):
            records = log[consumed : consumed + next(sizes)]
            consumed += len(records)
            batch = batch_of(*records)
            failed = undecodable(batch)
            plan = plan_parking(batch, open_store, failed)
            waiting = {s.position.offset for _, s, _ in plan.parked}
            for sourced in batch.events_by_product.get("abc", ()):
                if sourced.position.offset not in waiting:
                    applied.append(orjson_seq(batch, sourced.position))
            opened = merge_letters(
                plan.opened, {k: {f"0:{o}" for o in offs} for k, offs in failed.items()}
            )
            for k, entries in plan.closed.items():
                open_store[k] -= entries
                for entry in entries:
                    letters.pop(identity_of(entry), None)
            for k, entries in opened.items():
                open_store.setdefault(k, set()).update(entries)
                for entry in entries:
                    letters[identity_of(entry)] = log[int(identity_of(entry).split(":")[1])]

    consume()
    for _ in range(len(poison) * 3 + 3):
        if not letters:
            break
        order = sorted(letters)
        replay_order.shuffle(order)
        for position in order:
            record = letters[position]
            if record.value == b"{not json":
                del letters[position]  # Discarded: it cannot be fixed.
                for entries in open_store.values():
                    entries -= {e for e in entries if identity_of(e) == position}
            else:
                replayed = Record(
                    INVENTORY,
                    0,
                    len(log),
                    b"abc",
                    record.value,
                    [(REPLAYED_HEADER, position.encode())],
                )
                log.append(replayed)
        consume()
    assert letters == {}
    assert applied == [seq for seq, bad in enumerate(poison) if not bad]


def orjson_seq(batch: Batch, position: Any) -> int:
    value = batch.originals[position][1]
    assert value is not None
    seq: int = json.loads(value)["seq"]
    return seq
