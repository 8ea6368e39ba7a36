"""The prior price the EU requires next to a reduction: the lowest price that applied in
the 30 days before the current reduction began (Directive 2019/2161, article 6a).

Pure: a price's history is its records ``[time, partition, offset, amount]`` in
event-time order (``amount`` ``None`` while the price was withdrawn), merged in by
ordering key whatever order records arrive in, so replays, duplicates and late records
give the same value. A record at ``time`` applies until the next one.

**Ties.** Of several records with one event time, the one with the greatest
``(partition, offset)`` is in force, as for every snapshot the fold orders
(``FoldStep.replace``); the others never were. Only that one is kept per time: a
redelivered lesser one changes nothing.

**The current price** is the newest record's amount; it *began* with the oldest record
of the run of equal amounts that ends with it (a re-sent equal price does not restart
it). It is a *reduction* when it is below the amount before that run. The prior price is
then the lowest amount that applied at any moment of the 30 days before it began.

**What is kept.** A record at the newest time can still be replaced by a later one at
that same time (a delete and an insert in one transaction, a withdrawal that takes its
price's time), so the kept records are those that can matter *whatever the newest
record's amount becomes*: every record from 30 days before the newest time, before the
newest record, at which another amount than the one before the newest was in force,
and the record in force at that moment. At most ``MAX_RECORDS`` are kept; beyond, the
oldest go.

**What is known.** Once anything was dropped, ``known_from`` is the first kept record's
time: what was in force before it is unknown, a late record older than it is ignored,
and a prior price whose 30 days reach before it is ``None`` rather than a guess. That
happens beyond ``MAX_RECORDS``, or when a late record replaces, at the same event time,
a record older than the newest (an override nothing ordered in time can foresee).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from shopwindow.document import parse_decimal, parse_time

WINDOW = timedelta(days=30)
# Price records kept per price (product or SKU, per market): 30 days of changes every
# hour would be 720; a storefront's real history is tens. 64 covers a price changed
# twice a day for a month.
MAX_RECORDS = 64

# ``[time, partition, offset, amount]``
Record = tuple[datetime, int, int, Decimal | None]

# The first moment a datetime can hold, as event times are kept (UTC).
_FIRST_MOMENT = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class History:
    """One price's kept records, one per event time in time order, and from when they
    are complete.

    Attributes:
        records: The record in force from each kept time on.
        known_from: ``None`` while nothing was ever dropped; else the first kept
            record's time, before which nothing is known.
    """

    records: tuple[Record, ...] = ()
    known_from: datetime | None = None

    def stored(self) -> dict[str, Any]:
        """The history as the document keeps it (``read_history`` reads it back)."""
        return {"known_from": self.known_from, "records": [list(r) for r in self.records]}


def window_start(moment: datetime) -> datetime:
    """30 days before ``moment``, or the first representable moment: a producer may
    send times in the first days of year 1, and the window must not overflow there."""
    if moment - _FIRST_MOMENT < WINDOW:
        return _FIRST_MOMENT
    return moment - WINDOW


def read_history(stored: Mapping[str, Any] | Sequence[Sequence[Any]] | None) -> History:
    """A history as stored (``datetime``, ``Decimal``) or announced (ISO 8601 and
    decimal text, in JSON). A bare list of records is a history stored before
    ``known_from`` was kept, read as complete, as it was read then."""
    if stored is None:
        return History()
    if isinstance(stored, Mapping):
        records, known_from = stored.get("records") or (), parse_time(stored.get("known_from"))
    else:
        records, known_from = stored, None
    parsed = sorted((_read_record(raw) for raw in records), key=lambda record: record[:3])
    history = History(known_from=known_from)
    for record in parsed:  # One per time: a bare list may hold ties.
        history = _merged(history, record)
    return history


def _read_record(raw: Sequence[Any]) -> Record:
    time = parse_time(raw[0])
    if time is None:
        raise ValueError(f"a price record without an event time: {raw!r}")
    return time, int(raw[1]), int(raw[2]), parse_decimal(raw[3])


def with_record(
    history: History,
    key: Sequence[Any],
    amount: Decimal | None,
    keep_from: datetime | None = None,
) -> History:
    """``history`` with the record at ordering key ``key`` (``[time, partition,
    offset]``) of ``amount``, pruned to what can still matter. A record already there
    (a redelivery), one a greater key replaced at its time, or one older than what is
    known changes nothing.

    Args:
        history: The price's history so far.
        key: The record's ordering key.
        amount: Its amount; ``None`` for a withdrawal.
        keep_from: A moment whose 30 days must stay readable too (the earliest
            scheduled price of the slot), or ``None``.
    """
    merged = _merged(history, (key[0], key[1], key[2], amount))
    if merged is history:
        return history
    return _pruned(merged, keep_from)


def _time(record: Record) -> datetime:
    return record[0]


def _merged(history: History, record: Record) -> History:
    time = record[0]
    if history.known_from is not None and time < history.known_from:
        return history
    records = list(history.records)
    index = bisect.bisect_left(records, time, key=_time)
    if index < len(records) and records[index][0] == time:
        if records[index][1:3] >= record[1:3]:
            return history
        records[index] = record
    else:
        records.insert(index, record)
    return History(tuple(records), history.known_from)


def _horizon(records: Sequence[Record]) -> datetime | None:
    """The earliest moment a reduction's 30 days can still reach, whatever the newest
    record's amount becomes: 30 days before the newest time, before the newest record,
    at which another amount than the one before the newest was in force (else before
    the one before the newest)."""
    if len(records) < 2:
        return None
    before_newest = len(records) - 2
    amount = records[before_newest][3]
    other = next(
        (i for i in range(before_newest, -1, -1) if records[i][3] != amount), before_newest
    )
    return window_start(records[other][0])


def _pruned(history: History, keep_from: datetime | None) -> History:
    records = history.records
    horizon = _horizon(records)
    if horizon is not None and keep_from is not None:
        horizon = min(horizon, window_start(keep_from))
    # Keep the record in force at the horizon: the last one before it.
    first = max(sum(1 for r in records if r[0] < horizon) - 1, 0) if horizon else 0
    first = max(first, len(records) - MAX_RECORDS)
    if first == 0:
        return history
    kept = records[first:]
    return History(kept, kept[0][0])


def lowest_prior(history: History) -> Decimal | None:
    """The lowest amount in force in the 30 days before the current reduction began;
    ``None`` without a current price, when it is not a reduction, or when those 30 days
    reach before what is known (``History.known_from``)."""
    records = history.records
    if not records or records[-1][3] is None:
        return None
    current = records[-1][3]
    other = next((i for i in range(len(records) - 1, -1, -1) if records[i][3] != current), None)
    if other is None:
        return None
    previous = records[other][3]
    if previous is None or not current < previous:
        return None
    return _lowest_in_window(history, other + 1, records[other + 1][0])


def lowest_before(history: History, began: datetime, amount: Decimal) -> Decimal | None:
    """The prior price of a price scheduled to begin at ``began``: the lowest amount in
    force in the 30 days before it, when ``amount`` is below the amount in force just
    before it; ``None`` otherwise, without a price before it, and when those 30 days
    reach before what is known."""
    before = bisect.bisect_left(history.records, began, key=_time)
    if before == 0:
        return None
    previous = history.records[before - 1][3]
    if previous is None or not amount < previous:
        return None
    return _lowest_in_window(history, before, began)


def _lowest_in_window(history: History, count: int, began: datetime) -> Decimal | None:
    # The lowest amount of the first ``count`` records (those in force before ``began``)
    # in force at any moment of the 30 days before ``began``.
    start = window_start(began)
    if history.known_from is not None and start < history.known_from:
        return None
    records = history.records[:count]
    # A price is in force from its time until the next one's: it counts when that
    # stretch reaches into [start, began). The last one always does.
    ends = [r[0] for r in records[1:]] + [began]
    amounts = [
        record[3]
        for record, end in zip(records, ends, strict=True)
        if end > start and record[3] is not None
    ]
    return min(amounts, default=None)
