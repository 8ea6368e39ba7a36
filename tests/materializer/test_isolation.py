"""Singling out the events a document cannot take, leaving the others applied."""

from __future__ import annotations

from typing import Any

import pytest

from shopwindow.materializer.fold import Document, FoldSettings, fold
from shopwindow.materializer.isolation import fold_isolating
from tests import kinds
from tests.materializer.conftest import SourcedFactory, catalog, delta, stock_take


def refuse_named(name: str) -> Any:
    def refusal(doc: Document) -> str | None:
        return "too large" if (doc.get("catalog") or {}).get("name") == name else None

    return refusal


def test_an_unstorable_snapshot_is_refused_and_later_events_apply(
    sourced: SourcedFactory,
) -> None:
    events = [
        sourced(kinds.CATALOG, catalog(name="Fine", minutes=0)),
        sourced(kinds.CATALOG, catalog(name="Huge", minutes=1)),
        sourced(kinds.INVENTORY, stock_take(5)),
        sourced(kinds.INVENTORY, delta(-1, minutes=1)),
    ]
    isolated = fold_isolating(None, "abc", events, FoldSettings(), refuse_named("Huge"))
    doc = isolated.result.document
    assert doc is not None
    assert [(e.position, reason) for e, reason in isolated.refused] == [
        (events[1].position, "too large")
    ]
    assert (doc["catalog"]["name"], doc["stock"]["quantity"]) == ("Fine", 4)
    assert isolated.result.applied == (events[0], events[2], events[3])
    # The kept events make the same public document as folding them in one go.
    together = fold(None, "abc", [events[0], events[2], events[3]], FoldSettings()).document
    assert together is not None
    assert {k: v for k, v in doc.items() if k != "_meta"} == {
        k: v for k, v in together.items() if k != "_meta"
    }


def test_an_event_that_raises_in_the_fold_is_refused_with_its_exception(
    sourced: SourcedFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = [sourced(kinds.INVENTORY, stock_take(5)), sourced(kinds.CATALOG, catalog())]
    original = fold

    def fold_that_breaks_on_catalogs(
        doc: Any, pid: str, evs: Any, settings: Any, keyed: Any
    ) -> Any:
        if any(e.position.topic == "catalog" for e in evs):
            raise ZeroDivisionError("division by zero")
        return original(doc, pid, evs, settings, keyed)

    monkeypatch.setattr("shopwindow.materializer.isolation.fold", fold_that_breaks_on_catalogs)
    isolated = fold_isolating(None, "abc", events, FoldSettings(), lambda doc: None)
    assert [reason for _, reason in isolated.refused] == ["ZeroDivisionError: division by zero"]
    assert isolated.result.document is not None
    assert isolated.result.document["stock"]["quantity"] == 5


def test_nothing_kept_means_nothing_to_write(sourced: SourcedFactory) -> None:
    events = [sourced(kinds.CATALOG, catalog(name="Huge"))]
    isolated = fold_isolating(None, "abc", events, FoldSettings(), refuse_named("Huge"))
    assert isolated.result.document is None and isolated.result.applied == ()
