"""What the fault scenarios' readers accept as an answer that says how fresh it is."""

from __future__ import annotations

from typing import Any

import pytest

from tests.faults.clients import fresh_as_said

WHEN = "2026-12-06T03:00:00+00:00"


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"extensions": {"freshness": {"oldestMaterializedAt": WHEN, "changelogLag": 0}}}, True),
        ({"extensions": {"freshness": {"oldestMaterializedAt": WHEN, "changelogLag": None}}}, True),
        ({"extensions": {"freshness": {"oldestMaterializedAt": WHEN, "changelogLag": -1}}}, False),
        ({"extensions": {"freshness": {"oldestMaterializedAt": WHEN}}}, False),
        ({"extensions": {"freshness": {"oldestMaterializedAt": None, "changelogLag": 0}}}, False),
        ({"extensions": {"freshness": None}}, False),
        ({"extensions": None}, False),
        ({"data": {}}, False),
    ],
)
def test_an_answer_must_say_how_fresh_it_is(body: dict[str, Any], said: bool) -> None:
    assert fresh_as_said(body) is said
