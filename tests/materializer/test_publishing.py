"""Which Kafka errors refuse a record for good and which mean "wait and retry"."""

from __future__ import annotations

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
)

from shopwindow.materializer.errors import TransientError
from shopwindow.materializer.publishing import OutgoingRecord, _refused_or_raise

RECORD = OutgoingRecord("changes", b"abc", b"{}", [])

CASES: list[tuple[str, KafkaError, bool]] = [
    ("too large for the broker", MessageSizeTooLargeError(), True),
    ("too large for the client", RecordTooLargeError(), True),
    ("leader moving", NotLeaderForPartitionError(), False),
    ("broker unreachable", KafkaConnectionError(), False),
    # Not flagged retriable by aiokafka, but an unanswered request says nothing about
    # the record: waited out, never dead-lettered.
    ("request timed out", KafkaTimeoutError(), False),
    ("not authorized", TopicAuthorizationFailedError(), False),
]


@pytest.mark.parametrize(("error", "refused"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_send_error_policy(error: KafkaError, refused: bool) -> None:
    if refused:
        assert _refused_or_raise(RECORD, error).record is RECORD
    else:
        with pytest.raises(TransientError):
            _refused_or_raise(RECORD, error)
