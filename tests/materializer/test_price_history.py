"""The 30-day prior price, against a brute-force reading of the whole price log.

The fold sees records one at a time, late, twice, or again after a crash; the brute
force sees the whole log at once and reads the price in force at each instant.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shopwindow.materializer.sources.price_history import (
    MAX_RECORDS,
    WINDOW,
    lowest_before,
    lowest_prior,
    with_record,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
Record = tuple[datetime, int, int, Decimal | None]


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def in_force(log: list[Record], instant: datetime) -> Decimal | None:
    """The amount of the last record (by time, partition, offset) at or before ``instant``."""
    found = [r for r in sorted(log) if r[0] <= instant]
    return found[-1][3] if found else None


def brute_force(log: list[Record]) -> Decimal | None:
    log = sorted(set(log))
    if not log:
        return None
    times = sorted({r[0] for r in log})
    current = in_force(log, times[-1])
    if current is None:
        return None
    # The reduction began at the earliest record time from which the current amount
    # was in force at every record time after it.
    began_index = len(times) - 1
    while began_index > 0 and in_force(log, times[began_index - 1]) == current:
        began_index -= 1
    if began_index == 0:
        return None  # always this price: no reduction
    began = times[began_index]
    previous = in_force(log, times[began_index - 1])
    if previous is None or not current < previous:
        return None
    start = began - WINDOW
    instants = [start, *(t for t in times if start < t < began)]
    amounts = [a for a in (in_force(log, t) for t in instants) if a is not None]
    return min(amounts, default=None)


def folded(deliveries: list[Record]) -> list[list[Any]]:
    history: list[list[Any]] = []
    for time, partition, offset, amount in deliveries:
        history = with_record(history, [time, partition, offset], amount)
    return history


TABLE: list[tuple[str, list[Record], str | None]] = [
    ("no reduction: a rise", [(day(0), 0, 0, Decimal(80)), (day(40), 0, 1, Decimal(100))], None),
    (
        "a reduction: the lowest of the 30 days before it",
        [
            (day(0), 0, 0, Decimal(100)),
            (day(20), 0, 1, Decimal(90)),
            (day(25), 0, 2, Decimal(100)),
            (day(40), 0, 3, Decimal(70)),
        ],
        "90",
    ),
    (
        "a price older than 30 days does not count, the one in force at the start does",
        [
            (day(0), 0, 0, Decimal(50)),
            (day(5), 0, 1, Decimal(100)),
            (day(60), 0, 2, Decimal(80)),
        ],
        "100",
    ),
    (
        "a re-sent equal price does not restart the reduction",
        [
            (day(0), 0, 0, Decimal(100)),
            (day(10), 0, 1, Decimal(80)),
            (day(35), 0, 2, Decimal(80)),
        ],
        "100",
    ),
    (
        "after a withdrawal it is no reduction",
        [(day(0), 0, 0, Decimal(100)), (day(10), 0, 1, None), (day(20), 0, 2, Decimal(80))],
        None,
    ),
    ("withdrawn now", [(day(0), 0, 0, Decimal(100)), (day(10), 0, 1, None)], None),
    (
        "two records at one time: the later offset was in force",
        [
            (day(0), 0, 0, Decimal(100)),
            (day(10), 0, 1, Decimal(10)),
            (day(10), 0, 2, Decimal(95)),
            (day(20), 0, 3, Decimal(90)),
        ],
        "95",
    ),
]


@pytest.mark.parametrize(("log", "expected"), [c[1:] for c in TABLE], ids=[c[0] for c in TABLE])
def test_the_prior_price(log: list[Record], expected: str | None) -> None:
    assert brute_force(log) == (Decimal(expected) if expected else None)
    assert lowest_prior(folded(log)) == brute_force(log)
    assert lowest_prior(folded(log[::-1])) == brute_force(log)


AMOUNTS = st.one_of(st.none(), st.sampled_from([Decimal(n) for n in (50, 70, 80, 90, 100)]))


@st.composite
def logs(draw: st.DrawFn) -> tuple[list[Record], list[Record]]:
    """A price log and one delivery of it: out of order, with duplicates (redeliveries
    after a crash replay a suffix of what was already applied)."""
    count = draw(st.integers(min_value=1, max_value=14))
    log: list[Record] = []
    for offset in range(count):
        # Times cluster so that windows and equal times are both common.
        time = day(draw(st.sampled_from([0, 1, 10, 29, 30, 31, 45, 59, 60, 61, 90])))
        log.append((time, draw(st.integers(0, 1)), offset, draw(AMOUNTS)))
    delivery = draw(st.permutations(log))
    replayed = draw(st.integers(min_value=0, max_value=len(delivery)))
    crash_at = draw(st.integers(min_value=0, max_value=len(delivery)))
    # After a crash at ``crash_at``, the last ``replayed`` records before it come again.
    delivery = [*delivery[:crash_at], *delivery[max(0, crash_at - replayed) :]]
    return log, delivery


@settings(max_examples=2000, deadline=None)
@example(
    (
        [(day(0), 0, 0, Decimal(100)), (day(40), 0, 1, Decimal(80)), (day(45), 0, 2, Decimal(80))],
        [(day(45), 0, 2, Decimal(80)), (day(0), 0, 0, Decimal(100)), (day(40), 0, 1, Decimal(80))],
    )
)
@given(logs())
def test_the_fold_agrees_with_the_whole_log(drawn: tuple[list[Record], list[Record]]) -> None:
    log, delivery = drawn
    history = folded(delivery)
    assert len(history) <= MAX_RECORDS
    assert lowest_prior(history) == brute_force(log)
    # A redelivered record is kept once.
    assert len({tuple(record[:3]) for record in history}) == len(history)


def test_beyond_the_bound_it_says_nothing_rather_than_guess() -> None:
    log: list[Record] = [(day(0), 0, 0, Decimal(10))]
    # A price changed every 30 minutes for 40 days, then reduced.
    for n in range(1, 40 * 48):
        log.append((day(n / 48), 0, n, Decimal(100 + n % 2)))
    log.append((day(41), 0, 10_000, Decimal(60)))
    history = folded(log)
    assert len(history) == MAX_RECORDS
    assert brute_force(log) == Decimal(100)
    assert lowest_prior(history) is None


def brute_force_before(log: list[Record], began: datetime, amount: Decimal) -> Decimal | None:
    """The prior price of a price scheduled from ``began``, from the whole log."""
    earlier = sorted(r for r in set(log) if r[0] < began)
    if not earlier:
        return None
    previous = earlier[-1][3]
    if previous is None or not amount < previous:
        return None
    start = began - WINDOW
    instants = [start, *(r[0] for r in earlier if start < r[0])]
    amounts = [a for a in (in_force(earlier, t) for t in instants) if a is not None]
    return min(amounts, default=None)


@settings(max_examples=1000, deadline=None)
@given(
    logs(),
    st.sampled_from([0, 0.5, 1, 29, 30, 31]),
    st.sampled_from([Decimal(n) for n in (40, 75, 95, 120)]),
)
def test_a_scheduled_price_gets_the_prior_price_of_the_whole_log(
    drawn: tuple[list[Record], list[Record]], days_after: float, amount: Decimal
) -> None:
    """A sale scheduled at or after the newest record of the price it reduces: the value
    the fold derives from its kept history, delivered in any order, is the whole log's."""
    log, delivery = drawn
    began = max(r[0] for r in log) + timedelta(days=days_after)
    history = folded(delivery)
    assert lowest_before(history, began, amount) == brute_force_before(log, began, amount)
