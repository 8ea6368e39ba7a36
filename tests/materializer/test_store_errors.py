"""Which MongoDB write errors are retried and which refuse a document for good."""

from __future__ import annotations

from typing import Any

import pytest

from shopwindow.materializer.errors import TransientError
from shopwindow.materializer.store import (
    SaleProductStore,
    WriteErrorPolicy,
    WriteOutcome,
    write_error_policy,
)

RETRY, RACE, DEAD_LETTER = (
    WriteErrorPolicy.RETRY_BATCH,
    WriteErrorPolicy.RACE,
    WriteErrorPolicy.DEAD_LETTER,
)
CASES: list[tuple[str, dict[str, Any], WriteErrorPolicy]] = [
    ("failover", {"code": 11602, "errmsg": "InterruptedDueToReplStateChange"}, RETRY),
    ("stepped down", {"code": 189}, RETRY),
    ("not primary", {"code": 10107}, RETRY),
    ("shutting down", {"code": 91}, RETRY),
    ("write conflict", {"code": 112}, RETRY),
    ("labelled retryable", {"code": 10334, "errorLabels": ["RetryableWriteError"]}, RETRY),
    # The database's refusals: they would refuse every other document too.
    ("a validator", {"code": 121, "errmsg": "Document failed validation"}, RETRY),
    ("no privilege", {"code": 13, "errmsg": "not authorized"}, RETRY),
    ("disk full", {"code": 14031, "errmsg": "OutOfDiskSpace"}, RETRY),
    ("over a quota", {"code": 8000, "errmsg": "you are over your space quota"}, RETRY),
    ("an unknown code", {"code": 987654}, RETRY),
    ("no code", {}, RETRY),
    ("a string code", {"code": "10334"}, RETRY),
    ("duplicate key", {"code": 11000}, RACE),
    # The document's own faults.
    ("too large", {"code": 10334, "errmsg": "BSONObjectTooLarge"}, DEAD_LETTER),
    ("too large after an update", {"code": 17419}, DEAD_LETTER),
    ("dollar field", {"code": 52}, DEAD_LETTER),
    ("empty field", {"code": 56}, DEAD_LETTER),
    ("key too long", {"code": 17280}, DEAD_LETTER),
]


@pytest.mark.parametrize(("error", "policy"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_write_error_policy(error: dict[str, Any], policy: WriteErrorPolicy) -> None:
    assert write_error_policy(error) is policy


def test_a_refusal_of_the_database_retries_the_batch_instead_of_dead_lettering() -> None:
    details = {
        "writeErrors": [
            {"index": 0, "code": 10334, "errmsg": "too large"},
            {"index": 1, "code": 121, "errmsg": "Document failed validation"},
        ],
        "nMatched": 0,
    }
    with pytest.raises(TransientError, match="121"):
        SaleProductStore._sort_write_errors(details, ["a", "b"], WriteOutcome())


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
