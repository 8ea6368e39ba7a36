"""Scheduled prices: a price that applies from ``valid_from`` until ``valid_until``.

A price record that carries ``valid_from`` (or only ``valid_until``, which then starts
at the record's own time) is *scheduled*: it does not replace the price of its slot (a
product's or a SKU's price in one market) but is kept beside it, under a key of its own
per slot and start (``entry_key``). A later record with the same slot and start replaces
it (newest event time first, as for every price); a CDC delete naming the start
withdraws it.

**Which applies** is decided when a reader reads, at its own clock (``in_effect``): of
the slot's scheduled prices whose window holds that moment, the one that began last (a
flash sale inside a week-long sale), else the slot's own price. Nothing is converted:
each window carries its own amounts and currency.

**The bound.** At most ``MAX_SCHEDULED`` scheduled prices per slot that have not ended
by the newest record's event time, withdrawn ones that name no end included; one more
is dead-lettered with the reason. Ended ones are dropped when the next record of the
slot is folded: they can never apply again.

Pure: the fold calls ``admit``, readers ``read_schedule``, ``in_effect`` and
``boundaries``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shopwindow.document import parse_time

# Scheduled prices kept per slot (a product's or a SKU's price in one market): a
# storefront schedules the next sale or two; 8 leaves room for a season planned ahead.
MAX_SCHEDULED = 8

# The prefix of a scheduled price's key among the price entries; no SKU's escaped key
# starts with ``%`` and market prices use ``%M``.
_PREFIX = "%S"


def entry_key(slot: str, valid_from: datetime) -> str:
    """The field name of a scheduled price among the price entries: its slot's key and
    its start. The start's ISO 8601 text never holds ``@``, so the last ``@`` splits
    the two and no two (slot, start) pairs share a key."""
    return f"{_PREFIX}{slot}@{valid_from.isoformat()}"


def is_scheduled(entry: Mapping[str, Any]) -> bool:
    """Whether a price entry is a scheduled price (or the marker of a withdrawn one)."""
    return "valid_from" in entry


def _ended(entry: Mapping[str, Any], time: datetime) -> bool:
    until = parse_time(entry.get("valid_until"))
    return until is not None and until <= time


def admit(entries: dict[str, Any], slot: str, key: str, time: datetime) -> bool:
    """Drop the slot's scheduled prices that ended by ``time``, and say whether one
    more under ``key`` keeps the slot within ``MAX_SCHEDULED`` (a record replacing the
    one under ``key`` always does).

    Args:
        entries: The price entries (mutable).
        slot: The slot's key.
        key: The scheduled price's own key (``entry_key``).
        time: The event time of the record being folded.
    """
    mine = [name for name, entry in entries.items() if entry.get("slot") == slot]
    for name in mine:
        if name != key and _ended(entries[name], time):
            del entries[name]
    kept = sum(1 for name in mine if name in entries and name != key)
    return key in entries or kept < MAX_SCHEDULED


@dataclass(frozen=True, slots=True)
class Window:
    """When a scheduled price applies: from ``valid_from`` until ``valid_until``
    (``None``: until withdrawn or replaced)."""

    valid_from: datetime
    valid_until: datetime | None

    def holds(self, at: datetime | None) -> bool:
        """Whether the price applies at ``at`` (``None``: before every boundary)."""
        if at is None or at < self.valid_from:
            return False
        return self.valid_until is None or at < self.valid_until


def window_of(entry: Mapping[str, Any]) -> Window:
    """The window of a stored or announced scheduled price."""
    valid_from = parse_time(entry["valid_from"])
    assert valid_from is not None
    return Window(valid_from, parse_time(entry.get("valid_until")))


def read_schedule(
    entries: Mapping[str, Any] | None,
) -> dict[tuple[str | None, str | None], list[tuple[Window, Mapping[str, Any]]]]:
    """The scheduled prices in force or to come, by market (``None``: the default
    market) and SKU (``None``: the product's own), each with its window, latest start
    first; withdrawn ones left out."""
    schedule: dict[tuple[str | None, str | None], list[tuple[Window, Mapping[str, Any]]]] = {}
    for entry in (entries or {}).values():
        if is_scheduled(entry) and not entry.get("deleted"):
            slot = (entry.get("market"), entry.get("sku"))
            schedule.setdefault(slot, []).append((window_of(entry), entry))
    for windows in schedule.values():
        windows.sort(key=lambda pair: pair[0].valid_from, reverse=True)
    return schedule


def in_effect(
    windows: Iterable[tuple[Window, Mapping[str, Any]]], at: datetime | None
) -> Mapping[str, Any] | None:
    """The scheduled price applying at ``at``: of those whose window holds it, the one
    that began last (``windows`` come latest start first)."""
    return next((entry for window, entry in windows if window.holds(at)), None)


def boundaries(entries: Mapping[str, Any] | None) -> tuple[datetime, ...]:
    """Every moment a scheduled price begins or ends, in order: between two of them
    the prices in effect do not change."""
    moments: set[datetime] = set()
    for windows in read_schedule(entries).values():
        for window, _ in windows:
            moments.add(window.valid_from)
            if window.valid_until is not None:
                moments.add(window.valid_until)
    return tuple(sorted(moments))


def period(moments: tuple[datetime, ...], at: datetime) -> int:
    """Which stretch between ``moments`` holds ``at``: 0 before the first, ``n`` from
    the ``n``-th on. Every moment of a stretch sees the same prices."""
    return bisect.bisect_right(moments, at)


def next_boundary(moments: tuple[datetime, ...], at: datetime) -> datetime | None:
    """The first of ``moments`` after ``at``: until then the prices in effect hold."""
    index = bisect.bisect_right(moments, at)
    return moments[index] if index < len(moments) else None
