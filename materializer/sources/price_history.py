"""The prior price the EU requires next to a reduction: the lowest price that applied in
the 30 days before the current reduction began (Directive 2019/2161, article 6a).

Pure: a price's history is a list of ``[time, partition, offset, amount]`` records in
event-time order (``amount`` ``None`` while the price was withdrawn), merged in by
ordering key whatever order records arrive in, so replays, duplicates and late records
give the same value. A record at ``time`` applies until the next one.

**The current price** is the newest record's amount; it *began* with the oldest record
of the run of equal amounts that ends with it (a re-sent equal price does not restart
it). It is a *reduction* when it is below the amount before that run. The prior price is
then the lowest amount that applied at any moment of the 30 days before it began.

**What is kept.** Every record from 30 days before the newest time another amount than
the current one was in force, and the one record before that (the price in force at
that moment). Whatever arrives later, the reduction cannot begin before that time, so
the window cannot reach further back. One exception: a late record with the *same*
event time as one already applied overrides it (the later partition and offset win),
and two such overrides in a row could move the start back past what was dropped. At
most ``MAX_RECORDS`` are kept; beyond, the oldest go, and ``lowest_prior`` returns
``None`` for a window that reaches past them rather than a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from shopwindow.document import parse_decimal, parse_time

WINDOW = timedelta(days=30)
# Price records kept per price (product or SKU, per market): 30 days of changes every
# hour would be 720; a storefront's real history is tens. 64 covers a price changed
# twice a day for a month.
MAX_RECORDS = 64

History = list[list[Any]]

# The first moment a datetime can hold, as event times are kept (UTC).
_FIRST_MOMENT = datetime.min.replace(tzinfo=UTC)


def window_start(moment: datetime) -> datetime:
    """30 days before ``moment``, or the first representable moment: a producer may
    send times in the first days of year 1, and the window must not overflow there."""
    if moment - _FIRST_MOMENT < WINDOW:
        return _FIRST_MOMENT
    return moment - WINDOW


def read_history(records: Sequence[Sequence[Any]] | None) -> History:
    """A history as stored (``datetime``, ``Decimal``) or announced (ISO 8601 and
    decimal text, in the changelog's JSON)."""
    return [
        [parse_time(record[0]), record[1], record[2], parse_decimal(record[3])]
        for record in records or ()
    ]


def with_record(
    history: Sequence[Sequence[Any]], key: Sequence[Any], amount: Decimal | None
) -> History:
    """``history`` with the record at ordering key ``key`` (``[time, partition,
    offset]``) of ``amount``, pruned to what can still matter. A record already there
    (a redelivery) changes nothing.
    """
    merged = [list(record) for record in history]
    position = [*key]
    if any(record[:3] == position for record in merged):
        return merged
    merged.append([*position, amount])
    merged.sort(key=lambda record: (record[0], record[1], record[2]))
    return _pruned(merged)


def _timeline(history: Sequence[Sequence[Any]]) -> list[tuple[datetime, Decimal | None]]:
    """The price in force from each distinct time on: of several records at one time,
    the last (by partition and offset) is in force; the others never were."""
    timeline: list[tuple[datetime, Decimal | None]] = []
    for record in history:
        if timeline and timeline[-1][0] == record[0]:
            timeline[-1] = (record[0], record[3])
        else:
            timeline.append((record[0], record[3]))
    return timeline


def _other_amount_index(timeline: Sequence[tuple[datetime, Decimal | None]]) -> int | None:
    """The index of the newest time at which another amount than the current was in force."""
    current = timeline[-1][1]
    for index in range(len(timeline) - 1, -1, -1):
        if timeline[index][1] != current:
            return index
    return None


def _pruned(history: History) -> History:
    timeline = _timeline(history)
    other = _other_amount_index(timeline)
    if other is not None:
        horizon = window_start(timeline[other][0])
        before = [record[0] for record in history if record[0] < horizon]
        # Keep the price in force at the horizon: the last record before it.
        history = history[len(before) - 1 :] if before else history
    return history[-MAX_RECORDS:]


def lowest_prior(history: Sequence[Sequence[Any]]) -> Decimal | None:
    """The lowest amount in force in the 30 days before the current reduction began;
    ``None`` without a current price, when it is not a reduction, or when the kept
    records no longer reach the window's start (beyond ``MAX_RECORDS``)."""
    if not history or history[-1][3] is None:
        return None
    timeline = _timeline(history)
    other = _other_amount_index(timeline)
    if other is None:
        return None
    previous, current = timeline[other][1], timeline[-1][1]
    assert current is not None
    if previous is None or not current < previous:
        return None
    began = timeline[other + 1][0]
    return _lowest_in_window(timeline[: other + 1], began, len(history))


def lowest_before(
    history: Sequence[Sequence[Any]], began: datetime, amount: Decimal
) -> Decimal | None:
    """The prior price of a price scheduled to begin at ``began``: the lowest amount in
    force in the 30 days before it, when ``amount`` is below the amount in force just
    before it; ``None`` otherwise, and without a price before it."""
    timeline = [(time, price) for time, price in _timeline(history) if time < began]
    if not timeline:
        return None
    previous = timeline[-1][1]
    if previous is None or not amount < previous:
        return None
    return _lowest_in_window(timeline, began, len(history))


def _lowest_in_window(
    timeline: Sequence[tuple[datetime, Decimal | None]], began: datetime, kept: int
) -> Decimal | None:
    # The lowest amount of ``timeline`` (what was in force before ``began``) in force at
    # any moment of the 30 days before ``began``.
    start = window_start(began)
    if timeline[0][0] > start and kept >= MAX_RECORDS:
        return None  # the records that covered the window's start were dropped
    # A price is in force from its time until the next one's: it counts when that
    # stretch reaches into [start, began). The last one always does.
    ends = [time for time, _ in timeline[1:]] + [began]
    amounts = [
        amount
        for (_, amount), end in zip(timeline, ends, strict=True)
        if end > start and amount is not None
    ]
    return min(amounts, default=None)
