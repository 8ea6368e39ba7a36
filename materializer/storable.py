"""Whether a folded document can be stored in MongoDB and announced on the changelog.

A document is written only if both hold, so every stored document fits the changelog:
the changelog topic and the producer are sized from ``MAX_RECORD_BYTES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import bson

from shopwindow.document import (
    MAX_CHANGELOG_VALUE_BYTES,
    MAX_DOCUMENT_BYTES,
    META,
    encode_changelog_value,
)
from shopwindow.mongo import CODEC_OPTIONS


def changelog_value_refusal(value: bytes) -> str | None:
    """Why an encoded changelog value cannot be published, or ``None`` if it can."""
    if len(value) > MAX_CHANGELOG_VALUE_BYTES:
        return (
            f"the changelog value would be {len(value)} bytes; "
            f"at most {MAX_CHANGELOG_VALUE_BYTES} fit the changelog"
        )
    return None


def refusal(doc: Mapping[str, Any]) -> str | None:
    """Why MongoDB or the changelog would refuse ``doc``, or ``None`` if neither would.

    Args:
        doc: A folded document, bookkeeping included.

    Returns:
        The reason, fit for a dead letter.
    """
    try:
        size = len(bson.encode(doc, codec_options=CODEC_OPTIONS))
    except Exception as error:
        return f"not storable in MongoDB: {type(error).__name__}: {error}"
    if size > MAX_DOCUMENT_BYTES:
        return f"the document would be {size} bytes; MongoDB stores at most {MAX_DOCUMENT_BYTES}"
    try:
        # Every section counts, hidden ones too: a conservative bound.
        value = encode_changelog_value(doc, [key for key in doc if key != META])
    except Exception as error:
        return f"not encodable for the changelog: {type(error).__name__}: {error}"
    return changelog_value_refusal(value)
