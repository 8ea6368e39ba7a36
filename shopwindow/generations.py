"""Generations of the read model, and the pointer that says which one is served.

A rebuild folds every source topic from the beginning into a new *generation*: a new
products collection and new keyed-state collections beside the served ones. The
*serving pointer*, one MongoDB document, names the generation every gateway replica
reads and every live materializer writes; a switch is one conditional update of it.

Generation 0 keeps the original names (``sale_products``, ``reviews``), so a database
that never saw a rebuild needs no migration.

The pointer also carries a switch in progress, which the live materializers take part
in (see ``shopwindow.rebuild``):

- ``pausing``: the live members finish their batch, commit, say so (``paused``), and
  wait. A member that waits longer than the switch's lease cancels it instead.
- ``republishing``: the pointer already names the new generation; its documents are
  being announced on the changelog. The members still wait, so that no announcement of
  theirs lands before an older one of the rebuild's. A member that waits longer than
  the lease without a ``beat`` ends the switch and goes on.

Pure: no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from shopwindow.document import COLLECTION

POINTER_COLLECTION = "shopwindow_serving"
POINTER_ID = "sale_products"

SwitchState = Literal["pausing", "republishing", "cancelled"]


def products_collection(generation: int) -> str:
    """The products collection of ``generation``."""
    return COLLECTION if generation == 0 else f"{COLLECTION}_g{generation}"


def keyed_collection(name: str, generation: int) -> str:
    """Where a keyed state declared as ``name`` lives in ``generation``."""
    return name if generation == 0 else f"{name}_g{generation}"


def build_group(live_group: str, generation: int, attempt: str) -> str:
    """The consumer group whose committed offsets say how far ``generation``'s
    collections are while they are not served. ``attempt`` makes it new for every
    build: an abandoned build's offsets must not carry over into an empty collection."""
    return f"{live_group}.g{generation}.{attempt}"


@dataclass(frozen=True, slots=True)
class BuildTarget:
    """A generation to build beside the served one, and the group that tracks it."""

    generation: int
    group_id: str


@dataclass(frozen=True, slots=True)
class Switch:
    """A switch in progress.

    Attributes:
        token: Names this attempt; every conditional update of it matches the token.
        target: The generation being switched to.
        state: See the module docs.
        paused: The live members that finished their batch and wait, by member id.
        beat: Bumped by the switching process while it works: the members' lease
            starts again at every change.
    """

    token: str
    target: int
    state: SwitchState
    paused: frozenset[str] = frozenset()
    beat: int = 0


@dataclass(frozen=True, slots=True)
class Pointer:
    """The serving pointer.

    Attributes:
        generation: The generation served.
        previous: The generation served before the last switch, kept for a rollback
            until the rebuild is finished; ``None`` when there is none.
        building: A generation being built (or caught up for a rollback), if any.
        switch: A switch in progress, if any.
        members: Live materializer members by id, with the time they last said they run
            (seconds since the epoch, by their clock).
        drained: Per ``topic:partition``, the offset up to which the served generation
            was built when it was switched to: what a member that wrote the old one late
            must start from again.
        groups: The consumer group tracking each generation that is not served (the
            one being built, the previous one).
    """

    generation: int = 0
    previous: int | None = None
    building: int | None = None
    switch: Switch | None = None
    members: dict[str, float] = field(default_factory=dict)
    drained: dict[str, int] = field(default_factory=dict)
    groups: dict[int, str] = field(default_factory=dict)

    def build_target(self, generation: int) -> BuildTarget:
        """The build of ``generation``, with its tracking group.

        Raises:
            ValueError: When no group tracks ``generation``.
        """
        if generation not in self.groups:
            raise ValueError(f"no consumer group tracks generation {generation}")
        return BuildTarget(generation, self.groups[generation])

    @property
    def waiting(self) -> bool:
        """Whether live members must hold still now."""
        return self.switch is not None and self.switch.state in ("pausing", "republishing")

    def live_members(self, now_s: float, timeout_s: float) -> set[str]:
        """The members heard from within ``timeout_s`` of ``now_s``."""
        return {member for member, seen in self.members.items() if now_s - seen <= timeout_s}


def pointer_of(doc: dict[str, Any] | None) -> Pointer:
    """The pointer stored as ``doc``; the default (generation 0) when there is none.

    Raises:
        ValueError: When the stored document is not a pointer; nobody but shopwindow
            writes it, so this is a bug or a hand edit to look at, not a value to guess.
    """
    if doc is None:
        return Pointer()
    try:
        switch = doc.get("switch")
        return Pointer(
            generation=int(doc["generation"]),
            previous=None if doc.get("previous") is None else int(doc["previous"]),
            building=None if doc.get("building") is None else int(doc["building"]),
            switch=None
            if switch is None
            else Switch(
                token=str(switch["token"]),
                target=int(switch["target"]),
                state=_state(switch["state"]),
                paused=frozenset(from_field_key(str(m)) for m in (switch.get("paused") or {})),
                beat=int(switch.get("beat", 0)),
            ),
            members={
                from_field_key(str(k)): float(v) for k, v in (doc.get("members") or {}).items()
            },
            drained={str(k): int(v) for k, v in (doc.get("drained") or {}).items()},
            groups={int(k): str(v) for k, v in (doc.get("groups") or {}).items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"not a serving pointer: {error!r}") from error


def _state(value: Any) -> SwitchState:
    if value not in ("pausing", "republishing", "cancelled"):
        raise ValueError(f"unknown switch state {value!r}")
    state: SwitchState = value
    return state


def field_key(text: str) -> str:
    """``text`` as a MongoDB field name: no dots, no leading ``$`` (member ids hold host
    names, and topic names may hold dots)."""
    return text.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def from_field_key(key: str) -> str:
    """The text a ``field_key`` was made of."""
    return key.replace("%24", "$").replace("%2E", ".").replace("%25", "%")


def partition_key(topic: str, partition: int) -> str:
    """How a ``(topic, partition)`` is written in the pointer."""
    return field_key(f"{topic}:{partition}")


def parse_partition_key(key: str) -> tuple[str, int]:
    """The ``(topic, partition)`` of a ``partition_key``."""
    topic, _, partition = from_field_key(key).rpartition(":")
    return topic, int(partition)
