"""Errors that say what the consume loop should do about them.

Like aiokafka's ``KafkaError.retriable``: a retriable error means "the world is not
ready" (a server down, a leader moving); the loop backs off and tries the same batch
again without committing. Anything else is the record's fault and goes to the
dead-letter topic.
"""

from __future__ import annotations


class MaterializerError(Exception):
    """Base of the materializer's own errors."""

    retriable = False


class TransientError(MaterializerError):
    """A dependency is unavailable; retry the whole batch later.

    Args:
        dependency: ``"mongodb"`` or ``"kafka"``, reported by the readiness check.
        message: What failed.
    """

    retriable = True

    def __init__(self, dependency: str, message: str) -> None:
        super().__init__(f"{dependency}: {message}")
        self.dependency = dependency


MAX_REASON_CHARS = 1000


class PoisonEvent(MaterializerError):
    """A record that can never be applied; it goes to the dead-letter topic.

    Args:
        reason: Human-readable cause, stored in the dead-letter record's headers.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason[:MAX_REASON_CHARS])
        self.reason = reason[:MAX_REASON_CHARS]


class InvariantBroken(PoisonEvent):
    """Applying a record would leave a section in a state no input can justify (a
    negative count, a sum without a count). The record is refused, so the stored
    document never holds such a state; a dead letter of this kind is a bug to report.
    """


def reason_kind(reason: str) -> str:
    """A dead letter's reason without its details: the text before the first colon
    (``"CatalogSnapshot failed validation"``), what ``shopwindow dlq list`` groups by.

    Args:
        reason: The whole reason.
    """
    return reason.split(":", 1)[0].strip()[:120] or "(no reason)"


def poison_reason(error: BaseException) -> str:
    """The dead-letter reason for anything one record raised: the exception class and
    message, bounded in length.

    Args:
        error: What decoding, validating, folding or encoding the record raised.

    Returns:
        ``PoisonEvent``'s own reason, else ``"ClassName: message"``.
    """
    if isinstance(error, PoisonEvent):
        return error.reason
    return f"{type(error).__name__}: {error}"[:MAX_REASON_CHARS]
