"""The 30-day prior price, against a brute-force reading of the whole price log.

The fold sees records one at a time, late, twice, or again after a crash; the brute
force sees the whole log at once and reads the price in force at each instant.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shopwindow.materializer.sources.price_history import (
    MAX_RECORDS,
    WINDOW,
    History,
    lowest_before,
    lowest_prior,
    read_history,
    with_record,
)
from tests.fuzz import SCALE

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


def folded(deliveries: list[Record], keep_from: datetime | None = None) -> History:
    history = History()
    for time, partition, offset, amount in deliveries:
        history = with_record(history, [time, partition, offset], amount, keep_from)
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
# Times cluster so that windows and equal times are both common.
DAYS = st.sampled_from([0, 1, 10, 29, 30, 31, 45, 59, 60, 61, 90])


@st.composite
def logs(draw: st.DrawFn) -> list[Record]:
    """A price log over up to three partitions, offsets counted per partition as Kafka
    counts them. Equal times and withdrawals are common: a run of records may share one
    instant (a delete and an insert in one transaction, a withdrawal that takes its
    price's time)."""
    count = draw(st.integers(min_value=1, max_value=14))
    partitions = draw(st.integers(1, 3))
    # Most sources send their commit times, which only go forward; late records come
    # from other sources or replays.
    times_go_forward = draw(st.booleans())
    next_offset = [0, 0, 0]
    log: list[Record] = []
    for _ in range(count):
        partition = draw(st.integers(0, partitions - 1))
        same_instant = bool(log) and draw(st.booleans())
        time = log[-1][0] if same_instant else day(draw(DAYS))
        if times_go_forward and log:
            time = max(time, log[-1][0])
        # A price comes back often: re-sent, or restored after a withdrawal.
        earlier = [r[3] for r in log]
        amount = draw(st.one_of(AMOUNTS, st.sampled_from(earlier))) if log else draw(AMOUNTS)
        log.append((time, partition, next_offset[partition], amount))
        next_offset[partition] += 1
    return log


@st.composite
def deliveries(draw: st.DrawFn, log: list[Record], in_partition_order: bool) -> list[Record]:
    """One delivery of ``log``: with ``in_partition_order``, as a consumer reads it (each
    partition in offset order, partitions interleaved); else in any order. Then a crash
    at some point, after which the last records before it come again."""
    if in_partition_order:
        queues = [[r for r in log if r[1] == p] for p in range(3)]
        delivery: list[Record] = []
        while any(queues):
            partition = draw(st.sampled_from([p for p, queue in enumerate(queues) if queue]))
            delivery.append(queues[partition].pop(0))
    else:
        delivery = draw(st.permutations(log))
    replayed = draw(st.integers(min_value=0, max_value=len(delivery)))
    crash_at = draw(st.integers(min_value=0, max_value=len(delivery)))
    return [*delivery[:crash_at], *delivery[max(0, crash_at - replayed) :]]


@st.composite
def delivered_logs(draw: st.DrawFn) -> tuple[list[Record], list[Record]]:
    log = draw(logs())
    return log, draw(deliveries(log, in_partition_order=draw(st.booleans())))


def overrides_an_older_time(delivery: list[Record]) -> bool:
    """Whether a record arrives that replaces, at its event time, a record already
    delivered there while a newer time was already known: the one thing the kept
    records cannot foresee."""
    seen: list[Record] = []
    for record in delivery:
        newest = max((r[0] for r in seen), default=None)
        if newest is not None and record[0] < newest:
            if any(r[0] == record[0] and r[1:3] < record[1:3] for r in seen):
                return True
        seen.append(record)
    return False


# The log: 70 from 1 January, a run of withdrawals at that instant, 50 from
# 2 January and again on 15 February; on 1 March a withdrawal and a re-sent 50 at one
# instant. The 50 reduced the 70: the prior price is 70. The fold said None.
TIES_AT_BOTH_ENDS: list[Record] = [
    (day(45), 0, 0, Decimal(50)),
    (day(0), 0, 1, None),
    (day(1), 0, 2, Decimal(50)),
    *((day(0), 0, offset, None) for offset in range(3, 8)),
    (day(0), 0, 8, Decimal(70)),
    (day(59), 0, 9, None),
    (day(59), 0, 10, Decimal(50)),
]


# The same prices in time order: only the newest time's record is replaced.
WITHDRAWN_AND_RESENT_AT_ONCE: list[Record] = [
    (day(0), 0, 0, Decimal(70)),
    (day(1), 0, 1, Decimal(50)),
    (day(45), 0, 2, Decimal(50)),
    (day(59), 0, 3, None),
    (day(59), 0, 4, Decimal(50)),
]


@pytest.mark.parametrize("log", [TIES_AT_BOTH_ENDS, WITHDRAWN_AND_RESENT_AT_ONCE])
def test_ties_at_both_ends_of_a_reduction(log: list[Record]) -> None:
    assert brute_force(log) == Decimal(70)
    assert lowest_prior(folded(log)) == Decimal(70)
    assert lowest_prior(folded(log[::-1])) == Decimal(70)


@settings(max_examples=800 * SCALE, deadline=None)
@example((TIES_AT_BOTH_ENDS, TIES_AT_BOTH_ENDS))
@example((WITHDRAWN_AND_RESENT_AT_ONCE, WITHDRAWN_AND_RESENT_AT_ONCE))
@example(
    (
        [(day(0), 0, 0, Decimal(100)), (day(40), 0, 1, Decimal(80)), (day(45), 0, 2, Decimal(80))],
        [(day(45), 0, 2, Decimal(80)), (day(0), 0, 0, Decimal(100)), (day(40), 0, 1, Decimal(80))],
    )
)
@given(delivered_logs())
def test_the_fold_agrees_with_the_whole_log(drawn: tuple[list[Record], list[Record]]) -> None:
    """Exact, unless a late record replaced an older time's record; then exact or
    ``None``, never another amount."""
    log, delivery = drawn
    history = folded(delivery)
    assert len(history.records) <= MAX_RECORDS
    # One record per time, each kept once however often it was delivered.
    assert len({record[0] for record in history.records}) == len(history.records)
    expected = brute_force(log)
    if overrides_an_older_time(delivery):
        assert lowest_prior(history) in (expected, None)
        if lowest_prior(history) != expected:
            assert history.known_from is not None
    else:
        assert lowest_prior(history) == expected


@given(logs())
@settings(max_examples=200 * SCALE, deadline=None)
def test_the_stored_history_reads_back_the_same(log: list[Record]) -> None:
    history = folded(log)
    assert read_history(history.stored()) == history
    assert read_history(orjson.loads(orjson.dumps(history.stored(), default=str))) == history


def test_a_history_stored_as_a_bare_list_reads_as_complete() -> None:
    """Before ``known_from`` a history was its list of records, ties included."""
    stored = [
        [day(0).isoformat(), 0, 0, "100"],
        [day(10).isoformat(), 0, 2, "95"],
        [day(10).isoformat(), 0, 1, "10"],
        [day(20).isoformat(), 0, 3, "90"],
    ]
    history = read_history(stored)
    assert history.known_from is None
    assert [r[3] for r in history.records] == [Decimal(100), Decimal(95), Decimal(90)]
    assert lowest_prior(history) == Decimal(95)


def test_a_record_older_than_what_is_known_changes_nothing() -> None:
    history = History(((day(40), 0, 5, Decimal(100)),), known_from=day(40))
    assert with_record(history, [day(39), 1, 0, Decimal(10)], Decimal(10)) is history


def test_beyond_the_bound_it_says_nothing_rather_than_guess() -> None:
    log: list[Record] = [(day(0), 0, 0, Decimal(10))]
    # A price changed every 30 minutes for 40 days, then reduced.
    for n in range(1, 40 * 48):
        log.append((day(n / 48), 0, n, Decimal(100 + n % 2)))
    log.append((day(41), 0, 10_000, Decimal(60)))
    history = folded(log)
    assert len(history.records) == MAX_RECORDS
    assert history.known_from == history.records[0][0]
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


@settings(max_examples=400 * SCALE, deadline=None)
@given(
    delivered_logs(),
    st.sampled_from([-45, -30, -1, 0, 0.5, 1, 29, 30, 31]),
    st.sampled_from([Decimal(n) for n in (40, 75, 95, 120)]),
)
def test_a_scheduled_price_gets_the_prior_price_of_the_whole_log(
    drawn: tuple[list[Record], list[Record]], days_after: float, amount: Decimal
) -> None:
    """A sale scheduled before, at or after the newest record of the price it reduces,
    kept by the fold since before that record arrived (``keep_from``): the value the
    fold derives from its kept history, delivered in any order, is the whole log's, on
    the same terms as the current price's."""
    log, delivery = drawn
    began = max(r[0] for r in log) + timedelta(days=days_after)
    history = folded(delivery, keep_from=began)
    expected = brute_force_before(log, began, amount)
    got = lowest_before(history, began, amount)
    if overrides_an_older_time(delivery):
        assert got in (expected, None)
        if got != expected:
            assert history.known_from is not None
    else:
        assert got == expected


def test_a_scheduled_price_whose_window_was_dropped_says_nothing() -> None:
    """A sale scheduled after the history that its 30 days need was dropped."""
    log: list[Record] = [
        (day(0), 0, 0, Decimal(100)),
        (day(40), 0, 1, Decimal(90)),
        (day(80), 0, 2, Decimal(95)),
        (day(120), 0, 3, Decimal(99)),
        (day(160), 0, 4, Decimal(98)),
    ]
    history = folded(log)
    assert history.known_from == day(40)
    assert brute_force_before(log, day(30), Decimal(50)) == Decimal(100)
    assert lowest_before(history, day(30), Decimal(50)) is None
