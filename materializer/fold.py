"""The fold: a product's document and a run of its events -> the next document.

Pure and deterministic: no I/O, no clock, no environment. Every source's events go
through here, and exactly-once in effect rests on three rules kept here for all of them:

* **Log watermarks.** ``_meta.applied`` holds, per source ``topic:partition``, the
  offset of the last record that changed this document. Records of a partition reach a
  product in offset order, so a record at or below the watermark was applied already:
  redeliveries, replays from the beginning and re-folds after a crash are skipped.
* **Event ids.** A source id (outbox ``id`` header, a natural id such as an order id)
  seen among the last ``recent_ids_kept`` ids of the product is skipped, which catches a
  source that re-publishes the same event at a new offset.
* **Ordering keys.** Snapshots and keyed entries carry ``[updated_at, partition,
  offset]``; only a greater key replaces the stored one, so an older snapshot never
  overwrites a newer one, whatever the delivery order (``FoldStep.replace``).

A source's own fold (``Source.fold``) only says what one event does to its section.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shopwindow.document import META, SCHEMA_VERSION, UPGRADED_FROM, escape_key
from shopwindow.markets import DEFAULT_MARKET_ID
from shopwindow.materializer.events import SourcedEvent
from shopwindow.materializer.sources import CORE_SOURCES
from shopwindow.materializer.sources.base import Effect, Source, entry_id

Document = dict[str, Any]
OrderingKey = tuple[datetime, int, int]
# Per keyed state (its collection), the entries stored there, by ``entry_id``.
KeyedStore = Mapping[str, Mapping[str, dict[str, Any]]]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class FoldSettings:
    """Tunables of the fold, and the sources it folds.

    Attributes:
        low_stock_threshold: At or below this many available units (and above zero) the
            status is ``LOW_STOCK``.
        recent_ids_kept: How many source event ids each document remembers.
        trending_half_life_s: How fast views and orders stop counting toward the
            trending score, by event time.
        sources: The installed sources; each gets its section in new documents.
        park_keys: Once an event of a product is refused, leave out (park) the
            product's later events from the same partition too.
        markets: The ids of the markets records may name (``SHOPWINDOW_MARKETS_FILE``).
        default_market: The market of records that name none; a record naming it is
            stored as one that names none.
    """

    low_stock_threshold: int = 5
    recent_ids_kept: int = 256
    trending_half_life_s: int = 6 * 3600
    sources: tuple[Source[Any], ...] = field(default=CORE_SOURCES)
    park_keys: bool = False
    markets: frozenset[str] = frozenset({DEFAULT_MARKET_ID})
    default_market: str = DEFAULT_MARKET_ID


def new_document(product_id: str, settings: FoldSettings) -> Document:
    """The document of a product nothing is known about yet."""
    return {
        "_id": product_id,
        "schema_version": SCHEMA_VERSION,
        "version": 0,
        "updated_at": None,
        "materialized_at": None,  # Stamped by the writer: the fold has no clock.
        "visible": False,
        **{name: value for s in settings.sources for name, value in s.initial_fields().items()},
        META: {"revision": 0, "applied": {}, "ids": [], "keys": {}, "pending": {}},
    }


@dataclass(frozen=True, slots=True)
class FoldResult:
    """What folding a run of events did.

    Attributes:
        document: The new document, or ``None`` when nothing changed (nothing to write).
        applied: The events that changed the document.
        redelivered: How many events had been applied before (offset at or below the
            watermark, or a known event id).
    """

    document: Document | None
    applied: tuple[SourcedEvent, ...]
    redelivered: int


def fold(
    doc: Document | None,
    product_id: str,
    events: Sequence[SourcedEvent],
    settings: FoldSettings,
    keyed: KeyedStore | None = None,
) -> FoldResult:
    """Apply a product's events, in log order per partition, to its document.

    Args:
        doc: The stored document (of the current contract), or ``None``.
        product_id: The product the events are for.
        events: The product's events of one batch; events of one partition in offset
            order.
        settings: Tunables and sources.
        keyed: The entries of keyed states the events (and the document's pending
            entries) concern, as stored in their collections.

    Returns:
        The new document (``None`` when nothing changed) and what was applied.
    """
    state = (
        _copy_for(doc, {id(sourced.source) for sourced in events}, settings)
        if doc is not None
        else new_document(product_id, settings)
    )
    for source in settings.sources:
        for name, value in source.initial_fields().items():
            if name not in state:  # A source added since the document was written.
                state[name] = value
    meta = state[META]
    meta.pop(UPGRADED_FROM, None)  # The new document is of the current contract.
    applied: list[SourcedEvent] = []
    redelivered = 0
    for sourced in events:
        position = sourced.position
        watermark_key = escape_key(f"{position.topic}:{position.partition}")
        source_id = _source_id(sourced)
        if meta["applied"].get(watermark_key, -1) >= position.offset or (
            source_id is not None and source_id in meta["ids"]
        ):
            redelivered += 1
            continue
        step = _Step(product_id, state, sourced, settings, keyed or {})
        effect = sourced.source.fold(step, sourced.event)
        if effect is Effect.NONE:
            continue
        applied.append(sourced)
        meta["applied"][watermark_key] = position.offset
        if source_id is not None:
            meta["ids"] = [*meta["ids"], source_id][-settings.recent_ids_kept :]
        if effect is Effect.PUBLIC:
            state["version"] += 1
            when = sourced.time
            if when is not None and (state["updated_at"] is None or when > state["updated_at"]):
                state["updated_at"] = when
    if not applied:
        return FoldResult(None, (), redelivered)
    meta["revision"] += 1  # Guards the write; bumped even when clients see no change.
    _derive(state, settings)
    return FoldResult(state, tuple(applied), redelivered)


def _copy_for(doc: Document, touched: set[int], settings: FoldSettings) -> Document:
    # The fold never mutates its input, yet copying a product of 2,048 variants whole
    # for each batch of stock deltas made the copy the fold's whole cost. So only what
    # the batch may change is copied: _meta, the sections of the sources whose events
    # it folds, and the sections every fold derives anew. A source's entries (a price
    # or a stock level per SKU) are copied as a map; its fold copies an entry before it
    # changes one. The rest is shared with ``doc``, and never written to.
    state = dict(doc)
    state[META] = _copy(doc[META])
    for source in settings.sources:
        if id(source) in touched or source.derive is not None:
            if source.section in doc:
                state[source.section] = _copy(doc[source.section])
        for name in (source.entries, source.history):
            if name is not None and id(source) in touched and name in doc:
                state[name] = dict(doc[name])
    return state


def _copy(value: Any) -> Any:
    # Documents are dicts and lists of immutable leaves (str, int, Decimal, datetime,
    # ...), so copying the containers suffices; copy.deepcopy's memo bookkeeping made it
    # the fold's largest cost.
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _source_id(sourced: SourcedEvent) -> str | None:
    if sourced.event_id is not None:
        return f"id:{sourced.event_id}"
    return sourced.topic.natural_id(sourced.event)


def _stored_key(value: Sequence[Any] | None) -> OrderingKey | None:
    return None if value is None else (value[0], int(value[1]), int(value[2]))


class _Keyed:
    """A product's keyed state seen through its document: pending entries win over
    stored ones when newer, and new entries become pending until the collection
    confirms them. Only the product's own entries are in view."""

    def __init__(
        self, product_id: str, pending: dict[str, dict[str, Any]], stored: Mapping[str, Any]
    ) -> None:
        self._product_id = product_id
        self._pending = pending
        self._stored = stored

    def get(self, key: str) -> dict[str, Any] | None:
        pending = self._pending.get(escape_key(key))
        stored = self._stored.get(entry_id(self._product_id, key))
        if pending is None or (
            stored is not None and tuple(stored["key"]) >= tuple(pending["key"])
        ):
            return stored
        return pending

    def put(self, key: str, entry: dict[str, Any]) -> None:
        # ``id`` is the key within the product; the collection's _id adds the product.
        self._pending[escape_key(key)] = {**entry, "product_id": self._product_id, "id": key}


class _Step:
    """``FoldStep`` for one event: its section, and the ordering-key rules."""

    def __init__(
        self,
        product_id: str,
        state: Document,
        sourced: SourcedEvent,
        settings: FoldSettings,
        keyed: KeyedStore,
    ) -> None:
        self.product_id = product_id
        self._state = state
        self._sourced = sourced
        self._section = sourced.source.section
        self.settings = settings
        self._keyed_store = keyed

    @property
    def section(self) -> Any:
        return self._state[self._section]

    @property
    def keyed(self) -> _Keyed:
        keyed_state = self._sourced.source.keyed_state
        if keyed_state is None:
            raise TypeError(f"source {self._section!r} declares no keyed state")
        pending = self._state[META]["pending"].setdefault(keyed_state.collection, {})
        return _Keyed(self.product_id, pending, self._keyed_store.get(keyed_state.collection, {}))

    def assign(self, value: Any) -> None:
        self._state[self._section] = value

    def ordering_key(self, time: datetime) -> list[Any]:
        position = self._sourced.position
        return [time, position.partition, position.offset]

    def _stored_key(self) -> OrderingKey | None:
        return _stored_key(self._state[META]["keys"].get(self._section))

    def replace(self, content: dict[str, Any], time: datetime) -> Effect:
        key = self.ordering_key(time)
        stored = self._stored_key()
        if stored is not None and tuple(key) <= stored:
            return Effect.NONE
        self._state[META]["keys"][self._section] = key
        current = self.section
        if current is not None and {k: v for k, v in current.items() if k in content} == content:
            return Effect.META  # Same content, newer time: nothing for clients to see.
        self.assign({**content, "updated_at": time})
        return Effect.PUBLIC

    def delete(self, time: datetime | None) -> Effect:
        stored = self._stored_key()
        # Without a time of its own a deletion is ordered after the snapshot it deletes by
        # its log position.
        key = self.ordering_key(time or (stored[0] if stored else _EPOCH))
        if stored is not None and tuple(key) <= stored:
            return Effect.NONE
        self._state[META]["keys"][self._section] = key
        if self.section is None:
            return Effect.META  # Remembered, so that an older snapshot cannot resurrect it.
        self.assign(None)
        return Effect.PUBLIC

    @property
    def entries(self) -> dict[str, Any]:
        entries: dict[str, Any] = self._state[self._sourced.source.entries or self._section]
        return entries

    @property
    def history(self) -> dict[str, Any]:
        name = self._sourced.source.history
        if name is None:
            raise TypeError(f"source {self._section!r} declares no history")
        history: dict[str, Any] = self._state[name]
        return history

    def replace_entry(
        self,
        key: str,
        content: dict[str, Any] | None,
        time: datetime | None,
        stored_key: str | None = None,
    ) -> Effect:
        entries = self.entries
        escaped = escape_key(key) if stored_key is None else stored_key
        stored = entries.get(escaped)
        # As for a section: a deletion without a time of its own is ordered after the
        # entry it deletes by its log position.
        new_key = self.ordering_key(time or (stored["key"][0] if stored else _EPOCH))
        if stored is not None and tuple(new_key) <= tuple(stored["key"]):
            return Effect.NONE
        entry = {"id": key, "key": new_key, "deleted": content is None, **(content or {})}
        entries[escaped] = entry
        if stored is None and content is None:
            return Effect.META  # Remembered, so that an older entry cannot come back.
        if stored is not None and _without_key(stored) == _without_key(entry):
            return Effect.META  # Same content, newer time: nothing for clients to see.
        return Effect.PUBLIC


def _without_key(entry: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in entry.items() if name != "key"}


def _derive(state: Document, settings: FoldSettings) -> None:
    for source in settings.sources:
        if source.derive is not None:
            source.derive(state[source.section], settings)
    state["visible"] = all(
        state[source.section] is not None for source in settings.sources if source.makes_visible
    )
