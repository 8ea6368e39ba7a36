"""Per-key ordering of dead letters (``SHOPWINDOW_DLQ_PARK_KEYS``).

Once a product has a dead letter from a partition of a source topic, its later events
from that partition are *parked*: dead-lettered as well, in order, instead of applied
past the hole. The key stays parked while any of its letters is open. A replayed letter
(``shopwindow dlq replay`` marks it with ``REPLAYED_HEADER``) is applied only when it is
the key's oldest open letter, so replaying a key's letters in order restores its events
in order; discarding a letter (``shopwindow dlq discard``) takes it off the key.

Open letters are named by the position of the record that was dead-lettered
(``partition:offset``), which is also what the dead letter's ``dlq.partition`` and
``dlq.offset`` headers say.

Pure: the open letters are read and written by ``parking_store``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from shopwindow.materializer.batch import Batch
from shopwindow.materializer.events import Position, SourcedEvent

REPLAYED_HEADER = "dlq.replayed"
# Where a replayed letter stands among its product's letters; a letter dead-lettered
# again keeps it in its headers, so that the next replay goes out in order.
RANK_HEADER = "dlq.rank"


@dataclass(frozen=True, slots=True, order=True)
class ParkKey:
    """A product's events from one partition of one source topic."""

    topic: str
    partition: int
    product_id: str


def position_text(partition: int, offset: int) -> str:
    """How an open letter is named."""
    return f"{partition}:{offset}"


def _order(text: str) -> tuple[int, int]:
    partition, _, offset = text.partition(":")
    return int(partition), int(offset)


def letter_entry(rank: str, identity: str) -> str:
    """An open letter as stored: where it stands in its key's order (``rank``, the
    position of the event first refused or parked) and which letter it is now
    (``identity``, the position of the record dead-lettered last). They differ once a
    replay came too early and was parked again: it keeps its place."""
    return identity if rank == identity else f"{rank}@{identity}"


def rank_of(entry: str) -> tuple[int, int]:
    """Where an open letter stands in its key's order."""
    return _order(entry.partition("@")[0])


def identity_of(entry: str) -> str:
    """The position naming an open letter now (what a replay of it says)."""
    rank, _, identity = entry.partition("@")
    return identity or rank


@dataclass
class ParkingPlan:
    """What parking does to one batch.

    Attributes:
        parked: Events to dead-letter instead of applying, as ``(product id, event,
            reason)``: an event naming several products waits for the parked ones only.
        opened: Letters each key gains (records parked now), as ``letter_entry``.
        closed: Letters each key loses (replayed ones, applied or parked again).
        ranks: The rank of each replayed record let through to the writer: refused
            there, its new letter keeps that place.
    """

    parked: list[tuple[str, SourcedEvent, str]] = field(default_factory=list)
    opened: dict[ParkKey, set[str]] = field(default_factory=dict)
    closed: dict[ParkKey, set[str]] = field(default_factory=dict)
    ranks: dict[Position, str] = field(default_factory=dict)


def replayed_position(batch: Batch, position: Position) -> str | None:
    """The open letter a replayed record stands for, if it is a replay."""
    for name, value in batch.originals[position][2]:
        if name == REPLAYED_HEADER:
            try:
                text = value.decode()
                _order(text)
            except (UnicodeDecodeError, ValueError):
                return None  # A forged or broken mark: an ordinary record.
            return text
    return None


def keys_of(batch: Batch, sourced: SourcedEvent, product_id: str) -> set[ParkKey]:
    """The keys an event may belong to: its own partition's, and for a replay, the
    partition its letter came from (it belongs there only if it names an open letter,
    so that a forged mark moves nothing)."""
    position = sourced.position
    keys = {ParkKey(position.topic, position.partition, product_id)}
    replayed = replayed_position(batch, position)
    if replayed is not None:
        keys.add(ParkKey(position.topic, _order(replayed)[0], product_id))
    return keys


def undecodable(batch: Batch) -> dict[ParkKey, set[int]]:
    """The offsets of records of the batch that could not be decoded, by the key their
    record key names (a record without a readable key parks nothing)."""
    failed: dict[ParkKey, set[int]] = {}
    for letter in batch.dead_letters:
        try:
            product_id = letter.key.decode() if letter.key else ""
        except UnicodeDecodeError:
            continue
        if product_id:
            position = letter.position
            key = ParkKey(position.topic, position.partition, product_id)
            failed.setdefault(key, set()).add(position.offset)
    return failed


def plan_parking(
    batch: Batch,
    open_letters: Mapping[ParkKey, Collection[str]],
    failed: Mapping[ParkKey, Collection[int]] | None = None,
) -> ParkingPlan:
    """Decide which events of ``batch`` wait behind their key's open letters.

    Args:
        batch: The decoded batch; its parked events are taken out of it by the caller.
        open_letters: The open letters of the keys the batch concerns.
        failed: Offsets of this batch's records that failed to decode, by key
            (``undecodable``): the key's later events of the batch wait behind them.

    Returns:
        The events to park and the letters opened and closed.
    """
    plan = ParkingPlan()
    now_open = {key: set(letters) for key, letters in open_letters.items() if letters}
    failed = failed or {}
    for product_id, events in batch.events_by_product.items():
        for sourced in events:
            position = sourced.position
            here = position_text(position.partition, position.offset)
            key = ParkKey(position.topic, position.partition, product_id)
            replayed = replayed_position(batch, position)
            letter = None
            if replayed is not None:
                # A replay stands where its letter stood, if that letter is open.
                marked = ParkKey(position.topic, _order(replayed)[0], product_id)
                letter = next(
                    (e for e in now_open.get(marked, ()) if identity_of(e) == replayed), None
                )
                if letter is not None:
                    key = marked
            waiting = now_open.setdefault(key, set())
            # Behind a record of this batch that failed to decode.
            waiting.update(
                position_text(key.partition, offset)
                for offset in failed.get(key, ())
                if offset < position.offset
            )
            if letter is not None:
                # A replay of an open letter: it stands where the letter stood.
                waiting.discard(letter)
                plan.closed.setdefault(key, set()).add(letter)
                rank = letter.partition("@")[0]
                if not _any_before(waiting, rank):
                    plan.ranks[sourced.position] = rank
                    continue  # The oldest open letter, replayed: it applies.
            elif not _any_before(waiting, here):
                # Not behind a hole. Its own letter, if open, is a redelivery after a
                # failed attempt: the writer refuses it again, for the same reason.
                continue
            else:
                rank = here
            entry = letter_entry(rank, here)
            waiting.add(entry)
            plan.opened.setdefault(key, set()).add(entry)
            plan.parked.append((product_id, sourced, parked_reason(key)))
    return plan


def _any_before(letters: Collection[str], rank: str) -> bool:
    limit = _order(rank)
    return any(rank_of(letter) < limit for letter in letters)


def letters_opened(
    batch: Batch,
    refused: Collection[tuple[Position, str]],
    ranks: Mapping[Position, str] | None = None,
) -> dict[ParkKey, set[str]]:
    """The letters that records refused now (in decoding, the fold or the write) open,
    given as ``(position, product id)``; a replay keeps its letter's rank (``ranks``)."""
    opened: dict[ParkKey, set[str]] = {}
    for position, product_id in refused:
        here = position_text(position.partition, position.offset)
        rank = (ranks or {}).get(position, here)
        # A replay let through as its letter's turn ranks where that letter came from.
        key = ParkKey(position.topic, _order(rank)[0], product_id)
        opened.setdefault(key, set()).add(letter_entry(rank, here))
    return opened


def parked_reason(key: ParkKey) -> str:
    """Why an event waits: the dead letter's reason."""
    return (
        f"parked: product {key.product_id!r} has an open dead letter from {key.topic} "
        f"partition {key.partition}; replay or discard it first"
    )


def merge_letters(
    *parts: Mapping[ParkKey, Collection[str]],
) -> dict[ParkKey, set[str]]:
    """The union of several sets of letters by key."""
    merged: dict[ParkKey, set[str]] = {}
    for part in parts:
        for key, letters in part.items():
            merged.setdefault(key, set()).update(letters)
    return merged
