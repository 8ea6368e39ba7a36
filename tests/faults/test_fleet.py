"""The fleet's bookkeeping: what counts as a stale first value, a step back, staleness."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.faults.deployment import Role
from tests.faults.fleet import Fleet

GATEWAYS = [Role(f"gateway-{n}", "serve", {}, 8000 + n, Path(os.devnull)) for n in (1, 2)]


def value(s: int, g: int, v: int, a: int = 1) -> dict[str, Any]:
    return {"c": 0, "s": s, "g": g, "id": "p1", "v": v, "a": a, "st": "IN_STOCK"}


def fleet_marked_at(version: int) -> Fleet:
    """One client holding one subscription of p1, on its first connection, marked."""
    fleet = Fleet(GATEWAYS, ["p1"], clients=1, per_client=1)
    fleet.connections[0] = 1
    fleet._value(fleet.followed[0], value(0, 1, 3))
    fleet.mark({"p1": version})
    return fleet


@pytest.mark.parametrize(
    ("lines", "stale_first", "step_back"),
    [
        ([value(0, 2, 5)], 0, 0),  # Reconnected, current.
        ([value(0, 2, 6)], 0, 0),  # Reconnected, newer still.
        ([value(0, 2, 4)], 1, 0),  # Reconnected, behind what was stored at the fault.
        ([value(0, 1, 4)], 0, 0),  # The connection of before the fault: no first value.
        ([value(0, 2, 5), value(0, 2, 4)], 0, 1),  # Current, then one back.
        ([value(0, 2, 5), value(0, 3, 4)], 1, 1),  # A second reconnect, behind.
        ([value(0, 1, 2)], 0, 1),  # Back from 3 on the old connection.
    ],
)
def test_first_values_and_steps_back(
    lines: list[dict[str, Any]], stale_first: int, step_back: int
) -> None:
    fleet = fleet_marked_at(5)
    for line in lines:
        fleet._value(fleet.followed[line["s"]], line)
    assert fleet.seen.stale_first_values == stale_first
    assert fleet.seen.largest_step_back == step_back


def test_reconnected_and_stale_count_per_subscription() -> None:
    fleet = fleet_marked_at(5)
    assert fleet.reconnected() == 0
    fleet._value(fleet.followed[0], value(0, 2, 5, a=7))
    assert fleet.reconnected() == 1
    assert fleet.stale({"p1": {"available": 7, "status": "IN_STOCK"}}) == 0
    assert fleet.stale({"p1": {"available": 6, "status": "IN_STOCK"}}) == 1
    assert Fleet(GATEWAYS, ["p1"], 1, 1).stale({"p1": {"available": 7}}) == 1  # Saw nothing.
