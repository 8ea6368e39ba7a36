"""Live fan-out: one execution per change for every group of like subscriptions.

Subscriptions are grouped by product and by what decides their payload (``GroupSpec``:
the operation, its variables other than the live field's own arguments, the viewer's
segment). When a product changes, each of its groups executes its selection once, and
the serialized payload goes to every member as it is, framed with the member's
operation id. A subscription costs a few small objects and no task: each connection
has one ``Outbox`` that sends the newest frame per (subscription, product).

What a subscriber sees:

* first the current value, then every change of what it watches (a change that leaves
  the field's watched value equal sends nothing);
* versions never go backwards, and a subscriber that cannot keep up gets the newest
  value rather than a queue;
* no gap: a member joins its group before the current document is read, so every
  later change reaches it;
* when the product is deleted or hidden, fields that end with it complete (a list
  subscription drops that product, and completes when none is left); the others send
  a null payload, and go on if the product comes back;
* when a scheduled price of a followed product begins or ends, its groups execute
  again at that moment, by the gateway's clock, without a new record: the fan-out
  keeps each followed product's next such moment (``next_price_change``) and wakes
  then.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from opentelemetry.trace import SpanContext

from shopwindow.clock import Clock
from shopwindow.gateway.live.first_reads import CurrentReads, Documents
from shopwindow.gateway.live.outbox import Outbox, Owner, Subscriber
from shopwindow.materializer.sources.offers import next_price_change, price_boundaries
from shopwindow.materializer.sources.price_schedule import period
from shopwindow.sale_product import SaleProduct
from shopwindow.tasks import BackgroundLoop
from shopwindow.tracing import links_to, tracer

log = logging.getLogger(__name__)


class LiveField(Protocol):
    """A subscription field the fan-out serves (see ``subscriptions.LIVE_FIELDS``)."""

    @property
    def ends_when_gone(self) -> bool:
        """Complete when the product goes, rather than sending null."""

    def watch(
        self,
        doc: SaleProduct,
        segment: str | None,
        sku: str | None,
        price_order: tuple[str | None, ...],
        at: datetime,
    ) -> Hashable:
        """What a subscriber sees of ``doc`` at the prices of the markets in
        ``price_order``, as in effect at ``at``: an equal value sends nothing."""

    def follows(self, doc: SaleProduct, sku: str | None) -> bool:
        """Whether ``doc`` still has what is followed (the variant ``sku``, if named)."""


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """What decides a group's payload, besides the product.

    Attributes:
        field: The live field.
        identity: Equal for operations whose payloads are equal for the same document.
        segment: The viewers' customer segment.
        operation: What the runner executes (opaque here).
        sku: The variant followed, if one is named; part of ``identity``.
        price_order: The markets whose prices the viewers see (``@inContext``); the
            operation's text and variables, part of ``identity``, decide it.
    """

    field: LiveField
    identity: Hashable
    segment: str | None
    operation: Any
    sku: str | None = None
    price_order: tuple[str | None, ...] = (None,)


__all__ = ["FanOut", "GroupSpec", "LiveField", "Outbox", "Owner", "Subscriber"]

# Executes a group's operation for a document (None: the product is gone) at the prices
# in effect at a moment, and returns the serialized payload; errors are in the payload,
# masked.
Runner = Callable[[GroupSpec, str, SaleProduct | None, datetime], Awaitable[str]]


# Why a member is sent nothing yet: its product's current document is being read (so a
# change the changelog delivers meanwhile, maybe older than that document, does not go
# first), or its subscription sends its own first value (``after``).
_READING = 1
_OWN_FIRST = 2

_UNSENT: Any = object()
_GONE_VALUE: Any = object()


class _Member:
    __slots__ = ("group", "held", "sent_value", "sent_version", "subscriber")

    def __init__(self, subscriber: Subscriber, group: _Group, held: int) -> None:
        self.subscriber = subscriber
        self.group = group
        self.held = held
        self.sent_version = -1
        self.sent_value: Any = _UNSENT


@dataclass(slots=True)
class _Gone:
    version: int


class _Group:
    __slots__ = (
        "key",
        "members",
        "payload",
        "payload_key",
        "product_id",
        "spec",
        "state",
        "trace",
    )

    def __init__(self, key: Hashable, product_id: str, spec: GroupSpec) -> None:
        self.key = key
        self.product_id = product_id
        self.spec = spec
        self.members: dict[_Member, None] = {}
        # The newest document known (or that the product is gone), and the last payload.
        self.state: SaleProduct | _Gone | None = None
        # The trace context of the changelog record that brought ``state``, if any.
        self.trace: SpanContext | None = None
        self.payload: str | None = None
        # The version and the stretch between price boundaries the payload is of.
        self.payload_key: tuple[int, int] = (-2, 0)

    def version(self) -> int:
        state = self.state
        return -1 if state is None else state.version


class FanOut:
    """Groups subscriptions and executes each group once per change.

    Args:
        runner: Executes a group's operation.
        documents: Reads the current documents of new subscriptions, in batches.
        clock: Decides which scheduled prices are in effect, and wakes the fan-out
            when one begins or ends.
        executions: Groups executed at the same time.
    """

    def __init__(
        self, runner: Runner, documents: Documents, clock: Clock, executions: int = 4
    ) -> None:
        self._runner = runner
        self._clock = clock
        # (moment, product): when a followed product's prices next change by themselves;
        # ``_price_change`` holds each product's earliest, older heap entries are stale.
        self._price_changes: list[tuple[datetime, str]] = []
        self._price_change: dict[str, datetime] = {}
        self._price_change_added = asyncio.Event()
        self._groups: dict[Hashable, _Group] = {}
        self._by_product: dict[str, dict[_Group, None]] = {}
        self._dirty: dict[_Group, None] = {}
        self._running: set[_Group] = set()
        self._reads = CurrentReads(documents, self.current)
        self._wake_workers = asyncio.Event()
        self._loops = [
            *(BackgroundLoop(f"live worker {n}", self._work) for n in range(executions)),
            BackgroundLoop("live first reads", self._reads.read_queued),
            BackgroundLoop("live price boundaries", self._wake_at_price_changes),
        ]
        self._run_ids = itertools.count()
        self.executed = 0
        self.pushed = 0

    @property
    def groups(self) -> int:
        """Groups now."""
        return len(self._groups)

    @property
    def members(self) -> int:
        """Subscribers now, once per product each follows."""
        return sum(len(group.members) for group in self._groups.values())

    async def start(self) -> None:
        """Start the executing and reading tasks."""
        for loop in self._loops:
            loop.start()

    async def stop(self) -> None:
        """Stop them."""
        for loop in self._loops:
            await loop.stop()

    def products(self) -> list[str]:
        """The products someone follows."""
        return list(self._by_product)

    def follows(self, product_id: str) -> bool:
        """Whether someone follows ``product_id``."""
        return product_id in self._by_product

    def join(
        self,
        subscriber: Subscriber,
        spec: GroupSpec,
        product_ids: Sequence[str],
        read: bool,
        held: bool = False,
    ) -> None:
        """Add ``subscriber`` to the groups of ``product_ids``.

        Args:
            read: Read the current documents in the next batch; ``False`` when the caller
                reads them itself (fresh) and hands them to ``current`` or ``release``.
            held: Send the subscriber nothing until ``release``.
        """
        hold = _OWN_FIRST if held else _READING if read else 0
        for product_id in product_ids:
            key = (product_id, spec.field, spec.identity)
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = _Group(key, product_id, spec)
                self._by_product.setdefault(product_id, {})[group] = None
            member = _Member(subscriber, group, hold)
            group.members[member] = None
            subscriber.members.append(member)
        if read:
            self._reads.want(product_ids)

    def leave(self, subscriber: Subscriber) -> None:
        """Take ``subscriber`` out of every group; nothing more is sent for it."""
        for member in subscriber.members:
            self._remove(member)
        subscriber.members = []

    def current(self, product_id: str, doc: SaleProduct | None) -> None:
        """The current document of a product new members follow (``None``: not served)."""
        for group in tuple(self._by_product.get(product_id, ())):
            for member in group.members:
                if member.held == _READING:
                    member.held = 0
            if doc is not None:
                self._offer(group, doc)
            elif group.state is None:
                self._offer(group, _Gone(-1))
            self._mark(group)

    def release(
        self,
        subscriber: Subscriber,
        product_id: str,
        doc: SaleProduct | None,
        first: str | None,
    ) -> None:
        """Send a held subscriber its own first value for a product, then the group's.

        Args:
            doc: The product as the subscriber read it; ``None`` when not served.
            first: Its payload for ``doc``.
        """
        for member in subscriber.members:
            if member.group.product_id != product_id or member.held != _OWN_FIRST:
                continue
            member.held = 0
            if doc is not None and first is not None:
                subscriber.outbox.put(member, subscriber.prefix + first + "}")
                member.sent_version = doc.version
                spec = member.group.spec
                at = self._clock.now()
                member.sent_value = spec.field.watch(
                    doc, spec.segment, spec.sku, spec.price_order, at
                )
        self.current(product_id, doc)

    def changed(self, doc: SaleProduct, trace: SpanContext | None = None) -> None:
        """A product changed (the changelog, or a re-read after the reader restarted).

        Args:
            trace: The trace context of the changelog record, which the push links to.
        """
        for group in tuple(self._by_product.get(doc.id, ())):
            if self._offer(group, doc):
                group.trace = trace
                self._mark(group)

    def gone(self, product_id: str, version: int | None) -> None:
        """A product was deleted or hidden; ``None`` when its version is unknown."""
        for group in tuple(self._by_product.get(product_id, ())):
            if version is None:
                # A re-read found nothing: whatever is known has gone since.
                if not isinstance(group.state, _Gone):
                    self._offer(group, _Gone(group.version()), force=True)
                    self._mark(group)
            elif self._offer(group, _Gone(version)):
                self._mark(group)

    # Internals.

    def _offer(self, group: _Group, state: SaleProduct | _Gone, force: bool = False) -> bool:
        known = group.state
        if known is not None and state.version <= known.version and not force:
            return False
        group.state = state
        return True

    def _mark(self, group: _Group) -> None:
        self._dirty[group] = None
        self._wake_workers.set()

    def _remove(self, member: _Member) -> None:
        group = member.group
        group.members.pop(member, None)
        member.subscriber.outbox.drop(member)
        if not group.members:
            self._groups.pop(group.key, None)
            self._dirty.pop(group, None)
            followed = self._by_product.get(group.product_id)
            if followed is not None:
                followed.pop(group, None)
                if not followed:
                    del self._by_product[group.product_id]
                    self._price_change.pop(group.product_id, None)

    async def _work(self) -> None:
        group = next((g for g in self._dirty if g not in self._running), None)
        if group is None:
            self._wake_workers.clear()
            await self._wake_workers.wait()
            return
        del self._dirty[group]
        self._running.add(group)
        try:
            await self._update(group)
        except Exception:
            log.exception("live update failed", extra={"product": group.product_id})
        finally:
            self._running.discard(group)
            if group in self._dirty:
                self._wake_workers.set()

    async def _update(self, group: _Group) -> None:
        state = group.state
        if state is None:
            return
        links = links_to([group.trace])
        with tracer().start_as_current_span("live push", links=links) as span:
            span.set_attribute("shopwindow.product_id", group.product_id)
            span.set_attribute("shopwindow.subscribers", len(group.members))
            await self._update_traced(group, state)

    async def _update_traced(self, group: _Group, state: SaleProduct | _Gone) -> None:
        spec = group.spec
        if not isinstance(state, _Gone) and not spec.field.follows(state, spec.sku):
            state = _Gone(state.version)  # The variant followed is gone from the catalog.
        if isinstance(state, _Gone) and group.spec.field.ends_when_gone:
            self._end_members(group)
            return
        at = self._clock.now()
        if isinstance(state, _Gone):
            value: Any = _GONE_VALUE
            payload_key = (state.version, 0)
        else:
            value = spec.field.watch(state, spec.segment, spec.sku, spec.price_order, at)
            payload_key = (state.version, period(price_boundaries(state), at))
            self._note_price_change(group.product_id, next_price_change(state, at))
        if not any(self._due(m, state, value) for m in group.members):
            for member in group.members:
                member.sent_version = max(member.sent_version, state.version)
            return
        if group.payload_key != payload_key or group.payload is None:
            run_id = f"live-{next(self._run_ids)}"
            doc = None if isinstance(state, _Gone) else state
            group.payload = await self._runner(group.spec, run_id, doc, at)
            group.payload_key = payload_key
            self.executed += 1
            if group.state is not state:
                self._mark(group)  # Newer meanwhile: this one still goes out, then that.
        payload = group.payload
        for member in tuple(group.members):
            if self._due(member, state, value):
                member.subscriber.outbox.put(member, member.subscriber.prefix + payload + "}")
                member.sent_value = value
                self.pushed += 1
            member.sent_version = max(member.sent_version, state.version)

    @staticmethod
    def _due(member: _Member, state: SaleProduct | _Gone, value: Any) -> bool:
        if member.held:
            return False
        if member.sent_value is _UNSENT:
            return True
        if isinstance(state, _Gone):
            return member.sent_value is not _GONE_VALUE
        # The same version with another value: a scheduled price began or ended.
        return bool(state.version >= member.sent_version and member.sent_value != value)

    def _note_price_change(self, product_id: str, moment: datetime | None) -> None:
        if moment is None:
            return
        known = self._price_change.get(product_id)
        if known is not None and known <= moment:
            return
        self._price_change[product_id] = moment
        heapq.heappush(self._price_changes, (moment, product_id))
        if len(self._price_changes) > 2 * len(self._price_change) + 64:
            # Products followed and left again leave stale entries: keep them bounded.
            self._price_changes = [(m, p) for p, m in self._price_change.items()]
            heapq.heapify(self._price_changes)
        self._price_change_added.set()

    async def _wake_at_price_changes(self) -> None:
        # Every group of a product whose scheduled price began or ended executes again;
        # its update notes the product's next such moment.
        now = self._clock.now()
        while self._price_changes and self._price_changes[0][0] <= now:
            moment, product_id = heapq.heappop(self._price_changes)
            if self._price_change.get(product_id) != moment:
                continue  # Replaced by an earlier moment, already passed.
            del self._price_change[product_id]
            for group in self._by_product.get(product_id, ()):
                self._mark(group)
        self._price_change_added.clear()
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._price_change_added.wait())]
        if self._price_changes:
            waits.append(asyncio.ensure_future(self._clock.sleep_until(self._price_changes[0][0])))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    def _end_members(self, group: _Group) -> None:
        for member in tuple(group.members):
            subscriber = member.subscriber
            self._remove(member)
            subscriber.members.remove(member)
            if not subscriber.members:
                subscriber.outbox.put(subscriber, subscriber.owner.complete_frame(subscriber))
                subscriber.owner.ended(subscriber)
