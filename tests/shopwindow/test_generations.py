"""Generations and the serving pointer's document (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopwindow.generations import (
    BuildTarget,
    Pointer,
    Switch,
    build_group,
    field_key,
    from_field_key,
    keyed_collection,
    parse_partition_key,
    partition_key,
    pointer_of,
    products_collection,
)
from shopwindow.rebuild import BuildProgress, eta_text


def test_generation_0_keeps_the_original_names_and_others_get_their_own() -> None:
    assert (products_collection(0), keyed_collection("reviews", 0)) == ("sale_products", "reviews")
    assert (products_collection(3), keyed_collection("reviews", 3)) == (
        "sale_products_g3",
        "reviews_g3",
    )
    assert build_group("live", 2, "a1") != build_group("live", 2, "b2")


def test_a_stored_pointer_reads_back_whole() -> None:
    doc = {
        "_id": "sale_products",
        "generation": 2,
        "previous": 1,
        "building": None,
        "switch": {
            "token": "t",
            "target": 3,
            "state": "republishing",
            "paused": {field_key("host.a-1"): True},
        },
        "members": {field_key("host.a-1"): 10.5, field_key("b"): 3.0},
        "drained": {partition_key("shop.inventory", 2): 17},
        "groups": {"1": "live.g1.x"},
    }
    pointer = pointer_of(doc)
    assert pointer == Pointer(
        generation=2,
        previous=1,
        building=None,
        switch=Switch("t", 3, "republishing", frozenset({"host.a-1"})),
        members={"host.a-1": 10.5, "b": 3.0},
        drained={partition_key("shop.inventory", 2): 17},
        groups={1: "live.g1.x"},
    )
    assert pointer.waiting
    assert pointer.live_members(now_s=12.0, timeout_s=5) == {"host.a-1"}
    assert pointer.build_target(1) == BuildTarget(1, "live.g1.x")
    with pytest.raises(ValueError, match="no consumer group"):
        pointer.build_target(2)


@pytest.mark.parametrize(
    ("state", "waiting"), [("pausing", True), ("republishing", True), ("cancelled", False)]
)
def test_members_wait_while_a_switch_pauses_or_announces(state: str, waiting: bool) -> None:
    doc = {"generation": 0, "switch": {"token": "t", "target": 1, "state": state}}
    assert pointer_of(doc).waiting is waiting


def test_no_pointer_means_generation_0_and_nothing_under_way() -> None:
    assert pointer_of(None) == Pointer()
    assert not Pointer().waiting


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"generation": "two"},
        {"generation": None},
        {"generation": 0, "switch": {"token": "t", "target": 1, "state": "flipping"}},
        {"generation": 0, "switch": {"token": "t"}},
        {"generation": 0, "switch": "pausing"},
        {"generation": 0, "members": {"a": "yesterday"}},
        {"generation": 0, "drained": ["x"]},
        {"generation": 0, "groups": {"one": "g"}},
    ],
)
def test_a_document_that_is_not_a_pointer_is_refused_not_guessed(doc: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="serving pointer|switch state"):
        pointer_of(doc)


@given(st.text())
def test_any_member_id_or_topic_survives_as_a_field_name(text: str) -> None:
    key = field_key(text)
    assert "." not in key and not key.startswith("$")
    assert from_field_key(key) == text


@given(st.text(min_size=1), st.integers(min_value=0, max_value=2**31))
def test_partition_keys_read_back(topic: str, partition: int) -> None:
    assert parse_partition_key(partition_key(topic, partition)) == (topic, partition)


@pytest.mark.parametrize(
    ("done", "total", "rate", "caught_up"),
    [
        (100, 100, 0.0, True),  # Nothing left.
        (0, 100, 0.0, False),  # No rate measured yet.
        (90, 100, 50.0, True),  # 0.2 s left.
        (0, 100, 100.0, False),  # Exactly 1 s left.
        (0, 100, 99.0, False),
        (1, 100, 100.0, True),
    ],
)
def test_caught_up_means_under_a_second_left_at_the_measured_rate(
    done: int, total: int, rate: float, caught_up: bool
) -> None:
    progress = BuildProgress({"t": done}, {"t": total}, rate)
    assert progress.caught_up is caught_up


@pytest.mark.parametrize(
    ("left", "rate", "text"),
    [
        (0, 0.0, "0:00:00"),
        (-3, 5.0, "0:00:00"),
        (10, 0.0, "-"),
        (90, 1.0, "0:01:30"),
        (7_200, 1.0, "2:00:00"),
        (10**12, 0.001, "99:59:59"),
    ],
)
def test_the_eta_reads_as_hours_minutes_seconds(left: int, rate: float, text: str) -> None:
    assert eta_text(left, rate) == text
