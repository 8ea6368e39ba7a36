"""What a source declares: its topics, its section of the document, its fold, its fields.

A ``Source`` is one unit, like a topic declared in Quix Streams: the topic settings and
decoders of the records feeding it, the products and time of each event, the fold of
those events into its own section of the SaleProduct, any keyed state it keeps beside
the document, and the GraphQL fields it adds to ``Product``. The registry derives
settings, chart values and documentation from these declarations; the fold core
(``materializer.fold``) applies the exactly-once rules to every source alike.

Pure declarations: nothing here reads the environment or does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import orjson
from pydantic import BaseModel

from shopwindow.materializer.envelope import Envelope
from shopwindow.topics import TopicNames

if TYPE_CHECKING:
    from shopwindow.materializer.fold import FoldSettings

T = TypeVar("T")
E = TypeVar("E", bound=BaseModel)


class Effect(enum.Enum):
    """What applying one event did to the document."""

    NONE = 0  # Nothing changed; the record leaves no trace.
    META = 1  # Only bookkeeping changed (e.g. a deletion of a product not yet cataloged).
    PUBLIC = 2  # What clients see changed: the version goes up.


def _no_id(event: Any) -> str | None:
    return None


def _its_product(event: Any) -> tuple[str, ...]:
    return (event.product_id,)


@dataclass(frozen=True, eq=False)
class SourceTopic:
    """One input topic: its setting, default name and how to read its records.

    Attributes:
        setting: The settings key; ``SHOPWINDOW_TOPICS__<SETTING>`` names the topic.
        default_name: The topic's name unless configured.
        description: One line for the docs and the chart.
        shape: The record value, as the docs' table of source events shows it.
        decode: Validates an unwrapped record (plain JSON, Debezium or outbox) into an
            event; raises ``PoisonEvent`` or a validation error for a bad record.
        event_time: When the source says the event happened, if it says.
        product_ids: The products an event concerns (an order concerns several); by
            default the one its ``product_id`` names.
        natural_id: An id that makes a re-published event recognisable (an order id);
            the outbox ``id`` header, when present, wins.
    """

    setting: str
    default_name: str
    description: str
    shape: str
    decode: Callable[[Envelope], BaseModel]
    event_time: Callable[[Any], datetime | None]
    product_ids: Callable[[Any], tuple[str, ...]] = _its_product
    natural_id: Callable[[Any], str | None] = _no_id

    def name_in(self, topics: TopicNames) -> str:
        """The topic's configured name."""
        return topics.source(self.setting, self.default_name)


class KeyedEntries(Protocol):
    """The keyed state of one source as the fold sees it for one product: the entries
    that product owns, by their key within it."""

    def get(self, key: str) -> dict[str, Any] | None:
        """The newest known entry of this product under ``key``."""

    def put(self, key: str, entry: dict[str, Any]) -> None:
        """Record a new entry; it is written to the state's collection with the document."""


class FoldStep(Protocol):
    """One event being applied to its source's section, with the rules of the core."""

    @property
    def section(self) -> Any:
        """The section's current value (mutable; the fold works on a private copy)."""

    @property
    def settings(self) -> FoldSettings:
        """Tunables of the fold."""

    @property
    def product_id(self) -> str:
        """The product whose document this step folds into (an event may concern several)."""

    @property
    def keyed(self) -> KeyedEntries:
        """The source's keyed state, when it declares one."""

    def ordering_key(self, time: datetime) -> list[Any]:
        """``[time, partition, offset]``: the order of this event among snapshots."""

    def replace(self, content: dict[str, Any], time: datetime) -> Effect:
        """Replace the section with a snapshot unless a newer one was applied."""

    def delete(self, time: datetime | None) -> Effect:
        """Clear the section unless a newer snapshot was applied; remembered either way."""

    def assign(self, value: Any) -> None:
        """Set the section to ``value``."""

    @property
    def entries(self) -> dict[str, Any]:
        """The source's entries by escaped key (mutable): its entries field
        (``Source.entries``), or else its section, which then maps keys to entries."""

    @property
    def history(self) -> dict[str, Any]:
        """The source's history field by key (mutable; ``Source.history``)."""

    def replace_entry(
        self,
        key: str,
        content: dict[str, Any] | None,
        time: datetime | None,
        stored_key: str | None = None,
    ) -> Effect:
        """Among the source's entries, replace the one under ``key`` (or delete it,
        ``content=None``) unless a newer one was applied. A deletion leaves a marker so
        that an older entry cannot come back. ``stored_key`` overrides the field name
        (``escape_key(key)``): a source keeping two kinds of entries names one apart."""


@dataclass(frozen=True)
class KeyedState:
    """State a source keeps per key in a collection of its own, not in the document.

    An entry belongs to one product: it is identified by the product and its key within
    that product (``entry_id``), because sources number their entities per product as
    often as globally ("review 1" of two products are two reviews). Entries are written
    with the document's exactly-once rules: each carries the ordering key (``order``)
    of the event that wrote it, and a write never replaces a newer entry.

    Attributes:
        collection: The MongoDB collection (``reviews``).
        key_of: The key of an event's entry within its product (the review id).
    """

    collection: str
    key_of: Callable[[Any], str]


def entry_id(product_id: str, key: str) -> str:
    """The ``_id`` of a product's keyed entry in its collection.

    A JSON array of the two, so that no pair of ids can spell another pair's ``_id``
    (``("a:b", "c")`` and ``("a", "b:c")`` stay apart, whatever the ids contain).
    """
    return orjson.dumps([product_id, key]).decode()


@dataclass(frozen=True, eq=False)
class Source(Generic[T]):
    """A section of the SaleProduct and everything that feeds and serves it.

    Attributes:
        section: The document field the source owns.
        topics: The topics whose events fold into the section.
        initial: The section of a product nothing is known about yet.
        fold: Applies one event (``step.event``) to the section.
        read: The section as readers see it, typed (gateway, subscriptions, extensions).
        derive: Recomputes the section's derived values after a fold.
        product_fields: A strawberry type whose fields join ``Product``.
        keyed_state: State kept per key outside the document.
        makes_visible: The product is served only while this section is set.
        entries: A second document field the source owns: entries per key (a price
            or a stock level per SKU), by escaped key, each with its own ordering.
        history: A third document field the source owns: records per key that a
            derived value needs beyond the current one (the prices of the last 30
            days), kept across withdrawals. The fold's own: stored, never published;
            the fold stores what it derives from it beside the current value.
    """

    section: str
    topics: tuple[SourceTopic, ...]
    initial: Callable[[], Any]
    fold: Callable[[FoldStep, Any], Effect]
    read: Callable[[Any], T]
    derive: Callable[[Any, FoldSettings], None] | None = None
    product_fields: type | None = None
    keyed_state: KeyedState | None = None
    makes_visible: bool = False
    types: tuple[type, ...] = field(default=())
    entries: str | None = None
    history: str | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        """The document fields the source owns: its section, its entries and its
        history, when it declares them."""
        return (self.section, *(name for name in (self.entries, self.history) if name))

    @property
    def public_fields(self) -> tuple[str, ...]:
        """The owned fields readers see (the changelog carries them): all but history."""
        return tuple(name for name in self.fields if name != self.history)

    def initial_fields(self) -> dict[str, Any]:
        """Each owned field of a product nothing is known about yet."""
        initial = {self.section: self.initial()}
        for name in (self.entries, self.history):
            if name is not None:
                initial[name] = {}
        return initial
