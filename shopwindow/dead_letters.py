"""Dead letters as operators handle them: read, grouped, replayed or discarded.

A dead letter keeps the original record (key, value, headers) and says why and where
it came from in ``dlq.*`` headers. Whether it was replayed or discarded is kept on a
compacted ledger topic (``topics.dead_letter_resolved``), keyed by the dead letter's
own position, so every operator and every later run sees the same open letters.

Replay sends the original record back to the source topic it came from, and only to a
declared source topic: a header cannot steer it anywhere else.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson

from shopwindow.materializer.errors import reason_kind

Headers = Sequence[tuple[str, bytes]]

_DLQ_PREFIX = "dlq."


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead letter.

    Attributes:
        id: Its own position, ``partition:offset`` of the dead-letter topic.
        key: The original record key.
        value: The original value; ``None`` when it was dropped (a changelog record the
            broker refused) or was a tombstone.
        headers: The original headers, without the ``dlq.*`` ones.
        reason: Why it was not applied.
        topic: The topic it came from (or was meant for).
        partition: Its source partition, when known.
        offset: Its source offset, when known.
        value_dropped: The value was not kept, so it cannot be replayed.
        rank: Where it stands among its product's letters (``partition, offset``): its
            source position, or, for a replay that was parked again, the rank of the
            letter it replayed (``dlq.rank``). Replays go out in this order.
    """

    id: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    reason: str
    topic: str
    partition: int | None
    offset: int | None
    value_dropped: bool
    rank: tuple[int, int] | None = None

    @property
    def kind(self) -> str:
        """The reason without its details (the text before the first colon)."""
        return reason_kind(self.reason)


def _text(value: bytes | None) -> str:
    return "" if value is None else value.decode("utf-8", "replace")


def _number(value: bytes | None) -> int | None:
    text = _text(value)
    return int(text) if text.isascii() and text.isdigit() and len(text) < 20 else None


def dead_letter_of(
    partition: int, offset: int, key: bytes | None, value: bytes | None, headers: Headers
) -> DeadLetter:
    """Read a record of the dead-letter topic; anything missing or malformed in its
    ``dlq.*`` headers reads as unknown."""
    ours = {name: raw for name, raw in headers if name.startswith(_DLQ_PREFIX)}
    source_partition = _number(ours.get("dlq.partition"))
    source_offset = _number(ours.get("dlq.offset"))
    rank = _position(ours.get("dlq.rank"))
    if rank is None and source_partition is not None and source_offset is not None:
        rank = (source_partition, source_offset)
    return DeadLetter(
        id=f"{partition}:{offset}",
        key=key,
        value=value,
        headers=tuple((n, v) for n, v in headers if not n.startswith(_DLQ_PREFIX)),
        reason=_text(ours.get("dlq.reason")),
        topic=_text(ours.get("dlq.topic")),
        partition=source_partition,
        offset=source_offset,
        value_dropped=ours.get("dlq.value_dropped") == b"true",
        rank=rank,
    )


def _position(value: bytes | None) -> tuple[int, int] | None:
    partition, _, offset = _text(value).partition(":")
    first, second = _number(partition.encode()), _number(offset.encode())
    return None if first is None or second is None else (first, second)


def open_letters(letters: Iterable[DeadLetter], resolved: set[str]) -> list[DeadLetter]:
    """The letters not yet replayed or discarded."""
    return [letter for letter in letters if letter.id not in resolved]


def groups(letters: Iterable[DeadLetter]) -> list[tuple[str, str, int]]:
    """``(topic, reason kind, count)``, most frequent first."""
    counted = Counter((letter.topic, letter.kind) for letter in letters)
    return [(topic, kind, n) for (topic, kind), n in counted.most_common()]


@dataclass(frozen=True, slots=True)
class Selection:
    """Which letters a command acts on; every given criterion must hold."""

    reason: str | None = None
    topic: str | None = None
    ids: frozenset[str] = frozenset()
    every: bool = False

    def __post_init__(self) -> None:
        if not (self.every or self.reason or self.topic or self.ids):
            raise ValueError("say which dead letters: --reason, --topic, --id or --all")

    def matches(self, letter: DeadLetter) -> bool:
        """Whether ``letter`` is selected."""
        return (
            (self.reason is None or letter.reason.startswith(self.reason))
            and (self.topic is None or letter.topic == self.topic)
            and (not self.ids or letter.id in self.ids)
        )


def ledger_record(letter: DeadLetter, action: str, at: str) -> tuple[bytes, bytes]:
    """The ledger's key and value saying ``letter`` was ``replayed`` or ``discarded``."""
    value = {"action": action, "at": at, "topic": letter.topic, "reason": letter.reason}
    return letter.id.encode(), orjson.dumps(value)


def resolved_ids(records: Iterable[tuple[bytes | None, bytes | None]]) -> set[str]:
    """The ids the ledger marks resolved; the newest record per id wins (a tombstone
    reopens a letter)."""
    state: dict[str, bool] = {}
    for key, value in records:
        if key is not None:
            state[key.decode("utf-8", "replace")] = value is not None
    return {letter_id for letter_id, done in state.items() if done}


def replay_refusal(letter: DeadLetter, source_topics: set[str]) -> str | None:
    """Why ``letter`` cannot be replayed, or ``None``."""
    if letter.value_dropped:
        return "its value was not kept (a record the broker refused); rebuild instead"
    if letter.topic not in source_topics:
        return f"{letter.topic or '(unknown topic)'} is not a source topic"
    return None
