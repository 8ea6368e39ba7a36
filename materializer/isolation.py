"""Folding one event at a time to single out the events a document cannot take.

The batch writer folds a product's events in one go. When that raises, or when the
result cannot be stored, the culprits are found here: each event is folded on its own
onto the last good state and kept only if the fold succeeds and the result is
storable. The others become dead letters, and the product's remaining events still
apply, so one bad event never freezes a product; unless keys are parked
(``FoldSettings.park_keys``), when its later events from the same partition wait.

Pure: storability is a function handed in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shopwindow.materializer.errors import poison_reason
from shopwindow.materializer.events import SourcedEvent
from shopwindow.materializer.fold import Document, FoldResult, FoldSettings, KeyedStore, fold
from shopwindow.materializer.parking import ParkKey, parked_reason

Refusal = Callable[[Document], str | None]


@dataclass(frozen=True, slots=True)
class IsolatedFold:
    """The fold of the events the document could take, and the refused ones.

    Attributes:
        result: As ``fold`` returns it, for the kept events.
        refused: Each refused event with the reason.
    """

    result: FoldResult
    refused: tuple[tuple[SourcedEvent, str], ...]


def fold_isolating(
    doc: Document | None,
    product_id: str,
    events: Sequence[SourcedEvent],
    settings: FoldSettings,
    refusal: Refusal,
    keyed: KeyedStore | None = None,
) -> IsolatedFold:
    """Fold ``events`` one by one, leaving out each that raises or makes ``doc``
    unstorable.

    Args:
        doc: The stored document, or ``None``.
        product_id: The product.
        events: Its events of the batch, in log order per partition.
        settings: Tunables of the fold.
        refusal: Why a document cannot be stored, or ``None``.
        keyed: Stored keyed entries the events concern.

    Returns:
        The fold of the kept events and the refused events with their reasons.
    """
    current = doc
    applied: list[SourcedEvent] = []
    refused: list[tuple[SourcedEvent, str]] = []
    redelivered = 0
    # With parking, a refused event leaves a hole its partition's later events wait behind.
    holes: set[tuple[str, int]] = set()
    for sourced in events:
        where = (sourced.position.topic, sourced.position.partition)
        if where in holes:
            refused.append((sourced, parked_reason(ParkKey(*where, product_id))))
            continue
        reason: str | None
        try:
            step = fold(current, product_id, (sourced,), settings, keyed)
        except Exception as error:
            reason = poison_reason(error)
        else:
            redelivered += step.redelivered
            if step.document is None:
                continue
            reason = refusal(step.document)
            if reason is None:
                current = step.document
                applied.extend(step.applied)
                continue
        refused.append((sourced, reason))
        if settings.park_keys:
            holes.add(where)
    document = current if applied else None
    return IsolatedFold(FoldResult(document, tuple(applied), redelivered), tuple(refused))
