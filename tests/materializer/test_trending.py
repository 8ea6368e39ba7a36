"""The trending score: decay by event time, exact on replay in any interleaving."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopwindow.materializer.fold import FoldSettings, fold
from shopwindow.materializer.sources import trending
from tests import kinds
from tests.fuzz import SCALE
from tests.materializer.conftest import SourcedFactory, click, order

HALF_LIFE_S = 6 * 3600
T0 = datetime(2026, 6, 18, 12, 0, tzinfo=UTC)


def recent_of(*events: tuple[float, bool]) -> dict[str, object]:
    """``recent`` after counting ``(hours after T0, is_order)`` events in order."""
    recent = trending.empty()
    for hours, is_order in events:
        trending.count(recent, T0 + timedelta(hours=hours), is_order, HALF_LIFE_S)
    return recent


def score_of(*events: tuple[float, bool]) -> float:
    return trending.score(recent_of(*events), HALF_LIFE_S)


@pytest.mark.parametrize(
    ("name", "hotter", "colder"),
    [
        ("an order outweighs a view", [(0, True)], [(0, False)]),
        ("ten views outweigh one view", [(0, False)] * 10, [(0, False)]),
        ("a newer view outweighs an older one", [(1, False)], [(0, False)]),
        (
            "one view now beats 1.9 half-lives old double traffic",
            [(12, False)],
            [(0.6, False), (0.6, False), (0.6, False)],
        ),
        ("something beats nothing", [(0, False)], []),
    ],
)
def test_ordering(
    name: str, hotter: list[tuple[float, bool]], colder: list[tuple[float, bool]]
) -> None:
    assert score_of(*hotter) > score_of(*colder), name


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([], 0.0),
        # One view: log2(1) at the newest bucket's centre, in half-lives since the epoch.
        ([(0, False)], (T0.timestamp() + 900) / HALF_LIFE_S),
        # Two views one half-life apart: the older weighs half, log2(1.5) on top.
        ([(0, False), (6, False)], (T0.timestamp() + 6 * 3600 + 900) / HALF_LIFE_S + 0.5849625),
    ],
)
def test_values(events: list[tuple[float, bool]], expected: float) -> None:
    assert score_of(*events) == pytest.approx(expected, abs=1e-6)


def test_a_half_life_of_steady_traffic_adds_one() -> None:
    steady = [(h / 2, False) for h in range(200)]
    later = [(h / 2 + 6, False) for h in range(200)]
    assert score_of(*later) - score_of(*steady) == pytest.approx(1.0, abs=1e-6)


def test_events_beyond_the_horizon_are_dropped_whatever_their_order() -> None:
    horizon_h = trending.HORIZON_HALF_LIVES * 6
    old_first = recent_of((0, False), (horizon_h + 1, False))
    old_last = recent_of((horizon_h + 1, False), (0, False))
    assert old_first == old_last
    assert len(old_first["counts"]) == 1  # type: ignore[arg-type]


def test_a_changed_half_life_rebuckets_the_counts() -> None:
    recent = recent_of((0, False), (1, True))
    trending.count(recent, T0 + timedelta(hours=2), False, HALF_LIFE_S * 2)
    assert recent["bucket_s"] == trending.bucket_width_s(HALF_LIFE_S * 2)
    views = sum(v for v, _ in recent["counts"].values())  # type: ignore[attr-defined]
    orders = sum(o for _, o in recent["counts"].values())  # type: ignore[attr-defined]
    assert (views, orders) == (2, 1)


EVENTS = st.lists(st.tuples(st.floats(min_value=0, max_value=24 * 90), st.booleans()), max_size=40)


@settings(max_examples=100 * SCALE, deadline=None)
@given(events=EVENTS, data=st.data())
def test_any_arrival_order_gives_the_same_score(
    events: list[tuple[float, bool]], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(events))
    assert recent_of(*events) == recent_of(*shuffled)
    assert score_of(*events) == score_of(*shuffled)


def test_the_fold_gives_the_same_score_for_any_interleaving(sourced: SourcedFactory) -> None:
    """Orders and clicks are separate topics: a replay may interleave them otherwise,
    while each keeps its own order. Every one of the 210 interleavings is folded."""
    orders = [sourced(kinds.ORDERS, order(f"o{i}", "abc", minutes=37 * i)) for i in range(4)]
    clicks = [sourced(kinds.CLICKS, click(minutes=11 * (5 - i))) for i in range(6)]
    settings = FoldSettings()
    scores = set()
    for order_slots in itertools.combinations(range(10), len(orders)):
        pending_orders, pending_clicks = iter(orders), iter(clicks)
        doc = None
        for slot in range(10):
            event = next(pending_orders if slot in order_slots else pending_clicks)
            doc = fold(doc, "abc", [event], settings).document or doc
        assert doc is not None
        scores.add(doc["popularity"]["trending_score"])
    assert len(scores) == 1
    assert scores.pop() > 0
