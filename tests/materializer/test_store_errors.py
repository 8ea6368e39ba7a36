"""Which MongoDB write errors are retried and which refuse a document for good."""

from __future__ import annotations

from typing import Any

import pytest

from shopwindow.materializer.errors import TransientError
from shopwindow.materializer.store import SaleProductStore, WriteOutcome, is_retryable_write_error

CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("failover", {"code": 11602, "errmsg": "InterruptedDueToReplStateChange"}, True),
    ("stepped down", {"code": 189}, True),
    ("not primary", {"code": 10107}, True),
    ("shutting down", {"code": 91}, True),
    ("write conflict", {"code": 112}, True),
    ("labelled retryable", {"code": 1, "errorLabels": ["RetryableWriteError"]}, True),
    ("too large", {"code": 10334, "errmsg": "BSONObjectTooLarge"}, False),
    ("duplicate key", {"code": 11000}, False),
    ("no code", {}, False),
]


@pytest.mark.parametrize(("error", "retryable"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_write_error_policy(error: dict[str, Any], retryable: bool) -> None:
    assert is_retryable_write_error(error) is retryable


def test_a_failover_in_a_bulk_write_retries_the_batch_instead_of_dead_lettering() -> None:
    details = {
        "writeErrors": [
            {"index": 0, "code": 10334, "errmsg": "too large"},
            {"index": 1, "code": 11602, "errmsg": "InterruptedDueToReplStateChange"},
        ],
        "nMatched": 0,
    }
    with pytest.raises(TransientError, match="11602"):
        SaleProductStore._sort_write_errors(details, ["a", "b"], WriteOutcome())


def test_a_refused_document_is_reported_with_its_reason() -> None:
    details = {"writeErrors": [{"index": 1, "code": 10334, "errmsg": "too large"}], "nMatched": 1}
    outcome = WriteOutcome()
    assert SaleProductStore._sort_write_errors(details, ["a", "b"], outcome) == 1
    assert outcome.failed == {"b": "too large"}
