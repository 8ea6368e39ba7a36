"""Per-client leaky buckets (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopwindow.gateway.cost.budget import ClientBudgets
from tests.fuzz import SCALE


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # (client, cost, at seconds) -> (admitted, currently available, retry after)
        ([("a", 30, 0)], [(True, 70, 0)]),
        ([("a", 100, 0), ("a", 1, 0)], [(True, 0, 0), (False, 0, 1)]),
        ([("a", 100, 0), ("a", 25, 0)], [(True, 0, 0), (False, 0, 3)]),  # 25 / 10 per s
        ([("a", 100, 0), ("a", 25, 2.5)], [(True, 0, 0), (True, 0, 0)]),
        ([("a", 50, 0), ("a", 0, 100)], [(True, 50, 0), (True, 100, 0)]),  # Capped.
        ([("a", 100, 0), ("b", 100, 0)], [(True, 0, 0), (True, 0, 0)]),  # Each their own.
        ([("a", 60, 10), ("a", 0, 5)], [(True, 40, 0), (True, 40, 0)]),  # Clock went back.
        ([("a", -5, 0)], [(True, 100, 0)]),
        (
            [("a", 100, 0), ("a", 100, 0), ("a", 100, 9)],
            [(True, 0, 0), (False, 0, 10), (False, 90, 1)],
        ),
    ],
)
def test_a_bucket_spends_refills_and_says_when_to_come_back(
    steps: list[tuple[str, int, float]], expected: list[tuple[bool, int, int]]
) -> None:
    budgets = ClientBudgets(capacity=100, restore_rate_per_s=10)
    seen = []
    for client, cost, at in steps:
        admission = budgets.admit(client, cost, at)
        seen.append(
            (admission.admitted, admission.status.currently_available, admission.retry_after_s)
        )
        assert admission.status.maximum_available == 100 and admission.status.restore_rate == 10
    assert seen == expected


def test_an_operation_dearer_than_a_full_bucket_is_never_admitted() -> None:
    admission = ClientBudgets(capacity=100, restore_rate_per_s=10).admit("a", 101, 0)
    assert (
        not admission.admitted and admission.never and admission.status.currently_available == 100
    )


def test_memory_is_bounded_by_forgetting_the_least_recent_client() -> None:
    budgets = ClientBudgets(capacity=100, restore_rate_per_s=1, max_clients=2)
    for client in ("a", "b", "c"):
        budgets.admit(client, 100, 0)
    assert len(budgets) == 2
    assert budgets.admit("b", 1, 0).admitted is False  # Still remembered, still empty.
    assert budgets.admit("a", 100, 0).admitted is True  # Forgotten: starts full.


@pytest.mark.parametrize(
    ("spent", "refund", "expected"),
    [
        (60, 45, 85),  # estimated 60, used 15: pays 15
        (60, 0, 40),
        (60, -30, 40),  # never takes more afterwards
        (10, 50, 100),  # never above a full bucket
    ],
)
def test_what_an_operation_did_not_use_is_given_back(
    spent: int, refund: int, expected: int
) -> None:
    budgets = ClientBudgets(capacity=100, restore_rate_per_s=10)
    budgets.admit("a", spent, 0)
    assert budgets.refund("a", refund, 0).currently_available == expected
    assert budgets.admit("b", 0, 0).status.currently_available == 100  # b untouched


@pytest.mark.parametrize("values", [(0, 1, 1), (1, 0, 1), (1, 1, 0), (-1, 1, 1)])
def test_a_budget_must_be_positive(values: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError, match="positive"):
        ClientBudgets(*values)


@settings(max_examples=300 * SCALE, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from("ab"),
            st.integers(min_value=-10, max_value=150),
            st.floats(min_value=0, max_value=5, allow_nan=False),
        ),
        max_size=60,
    )
)
def test_no_client_ever_spends_more_than_capacity_plus_what_time_restored(
    steps: list[tuple[str, int, float]],
) -> None:
    budgets = ClientBudgets(capacity=100, restore_rate_per_s=7)
    now = 0.0
    spent = {"a": 0, "b": 0}
    for client, cost, wait in steps:
        now += wait
        admission = budgets.admit(client, cost, now)
        assert 0 <= admission.status.currently_available <= 100
        if admission.admitted:
            spent[client] += max(cost, 0)
        else:
            assert admission.retry_after_s >= 1 or admission.never
        for who, total in spent.items():
            assert total <= 100 + 7 * now + 1e-6, who
