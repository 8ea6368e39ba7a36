"""Fuzzing through real clients. ``make test`` runs a short pass; ``make fuzz`` sets
``SHOPWINDOW_FUZZ_SCALE`` for a long one."""

from __future__ import annotations

import os
from typing import TypeVar

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

T = TypeVar("T")

# How many times more examples than the short pass in `make test`.
SCALE = max(int(os.environ.get("SHOPWINDOW_FUZZ_SCALE", "1")), 1)


def drawn(strategy: st.SearchStrategy[T], count: int) -> list[T]:
    """``count`` examples of ``strategy``, drawn as hypothesis would, without shrinking:
    the server under test is the oracle, and each example costs a round trip."""
    examples: list[T] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy)
    def collect(example: T) -> None:
        examples.append(example)

    collect()
    return examples
