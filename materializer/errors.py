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
