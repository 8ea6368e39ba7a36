"""Source positions as GraphQL arguments: ``after: [SourcePositionInput!]``.

Queries and subscriptions take the positions of the records a client caused, and read
only once those are applied (``consistency``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, NewType

import strawberry

from shopwindow.gateway.errors import UserInputError
from shopwindow.gateway.execution.context import GatewayContext, Info
from shopwindow.gateway.reads.consistency import MAX_POSITIONS, position


def _offset(value: Any) -> int:
    # ASCII digits only: str.isdigit() would take "١٢" (Arabic-Indic) for 12.
    text = str(value)
    if isinstance(value, bool) or not isinstance(value, int | str) or not text.isascii():
        raise ValueError("An offset is a non-negative integer (as a number or a string).")
    if not text.isdigit():  # Negative numbers, words, empty text.
        raise ValueError("An offset is a non-negative integer (as a number or a string).")
    return int(value)


Offset = NewType("Offset", int)
OFFSET_SCALAR = strawberry.scalar(
    name="Offset",
    serialize=str,
    parse_value=_offset,
    description="A Kafka offset: a 64-bit integer, given as a number or a string.",
)


@strawberry.input(description="Where a record sits in a source topic.")
class SourcePositionInput:
    topic: str
    partition: int
    offset: Offset


_AFTER = (
    "Source records (e.g. the event the client just produced) to wait for before reading, "
    "within SHOPWINDOW_CONSISTENCY_WAIT_MS; `extensions.consistency` reports the outcome."
)


After = Annotated[list[SourcePositionInput] | None, strawberry.argument(description=_AFTER)]


async def read_after(info: Info, after: list[SourcePositionInput] | None) -> None:
    """Wait until the positions in ``after`` are applied; then the operation reads fresh.

    Raises:
        UserInputError: When a position names no source topic, is out of range, or there
            are too many.
    """
    await wait_after(info.context, [(p.topic, p.partition, int(p.offset)) for p in after or ()])


async def wait_after(context: GatewayContext, after: Sequence[tuple[str, int, int]]) -> None:
    """``read_after`` for ``(topic, partition, offset)`` triples.

    Raises:
        UserInputError: As ``read_after``.
    """
    if not after:
        return
    gate = context.consistency
    if gate is None:
        return
    if len(after) > MAX_POSITIONS:
        raise UserInputError(f"At most {MAX_POSITIONS} positions in 'after'.")
    await context.read_after(
        [position(topic, partition, offset, gate.sources) for topic, partition, offset in after]
    )
