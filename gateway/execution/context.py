"""What every resolver of one request can reach."""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.dataloader import DataLoader

from shopwindow.gateway.cost.budget import client_key
from shopwindow.gateway.execution.auth import ANONYMOUS, Viewer
from shopwindow.gateway.execution.localization import DEFAULT, Localization
from shopwindow.gateway.reads.consistency import (
    ConsistencyGate,
    ConsistencyReport,
    ReadOptions,
    SourcePosition,
)
from shopwindow.gateway.reads.freshness import Freshness
from shopwindow.gateway.reads.loaders import CategoryPages, SkuLookups
from shopwindow.materializer.sources.offers import next_price_change
from shopwindow.sale_product import SaleProduct

# This process's half of every request id it makes: 16 random hex digits, drawn anew
# in a forked child. Not checked by ``os.getpid()`` per request: a system call per
# request cost 5 % of a kept answer's time.
_id_prefix = secrets.token_hex(8)
_id_numbers = itertools.count()


def _draw_id_prefix() -> None:
    global _id_prefix
    _id_prefix = secrets.token_hex(8)


os.register_at_fork(after_in_child=_draw_id_prefix)


def new_request_id() -> str:
    """A request id, 32 hex digits, unique across replicas and restarts: a random half
    per process and a counter. ``uuid4()`` per request cost 3 % of a cached answer."""
    return f"{_id_prefix}{next(_id_numbers) & 0xFFFFFFFFFFFFFFFF:016x}"


if TYPE_CHECKING:
    # The search service reads documents of the sources, which import this module.
    from shopwindow.gateway.search.service import SearchService


@dataclass(frozen=True, slots=True)
class ResolverLimits:
    """Caps the resolvers enforce."""

    max_ids_per_query: int = 100
    max_page_size: int = 100
    max_subscriptions_per_connection: int = 100
    max_products_per_subscription: int = 50


@dataclass(slots=True)
class WebSocketConnection:
    """What outlives one operation on a WebSocket connection.

    Attributes:
        connection_params: The ``connection_init`` payload.
        viewer: Who connected, verified from that payload.
        active_subscriptions: Subscriptions open on this connection.
        client: The client's address, when the server knows it.
    """

    connection_params: Any = None
    viewer: Viewer = ANONYMOUS
    active_subscriptions: int = 0
    client: str | None = None

    @property
    def budget_key(self) -> str:
        """Whose cost budget this connection's operations spend (``client_key``)."""
        return client_key(self.viewer.subject, self.client)


@dataclass
class GatewayContext:
    """Per-operation state: fresh loaders, who is asking, and over which connection.

    Attributes:
        products: Loads visible product documents by id.
        categories: Reads pages of a category's products (and primes ``products``).
        viewer: The verified viewer; anonymous without a token.
        request_id: Names the request in logs and in masked errors.
        limits: Caps on list sizes.
        loaders: Loaders contributed by extensions, by name.
        live: The changelog hub feeding subscriptions.
        connection: The WebSocket connection the operation came over; ``None`` over HTTP.
        freshness: The age of what the operation returned.
        reads: How the operation's loader reads (fresh after a read-your-writes wait).
        consistency: Waits for the positions a client names (read-your-writes).
        consistency_report: What the operation waited for, if it did.
        search: The replica's search index; ``None`` where search is off.
        skus: Finds products by a SKU they list.
        localization: The market and language the operation runs in (``@inContext``).
        prices_at: The moment whose prices the operation shows: scheduled prices in
            effect then apply (the gateway's clock when the operation began).
    """

    products: DataLoader[str, SaleProduct | None]
    categories: CategoryPages
    viewer: Viewer = ANONYMOUS
    request_id: str = ""
    limits: ResolverLimits = field(default_factory=ResolverLimits)
    loaders: dict[str, DataLoader[Any, Any]] = field(default_factory=dict)
    live: Any = None
    connection: WebSocketConnection | None = None
    freshness: Freshness = field(default_factory=Freshness)
    reads: ReadOptions = field(default_factory=ReadOptions)
    consistency: ConsistencyGate | None = None
    consistency_report: ConsistencyReport | None = None
    search: SearchService | None = None
    skus: SkuLookups | None = None
    localization: Localization = DEFAULT
    prices_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def saw(self, product: SaleProduct) -> None:
        """Count a product the result returns (``freshness``), with how long the prices
        read of it at ``prices_at`` hold."""
        self.freshness.saw(product, next_price_change(product, self.prices_at))

    async def read_after(self, positions: Collection[SourcePosition]) -> None:
        """Wait until the records at ``positions`` are applied (within the bound), and
        read fresh documents from then on."""
        if not positions or self.consistency is None:
            return
        report = await self.consistency.wait(positions)
        if self.consistency_report is not None:
            report.requested = sorted({*self.consistency_report.requested, *report.requested})
            report.pending = sorted({*self.consistency_report.pending, *report.pending})
            report.waited_ms += self.consistency_report.waited_ms
        self.consistency_report = report
        self.reads.fresh = True

    @property
    def segment(self) -> str | None:
        """The viewer's customer segment, whose prices apply."""
        return self.viewer.segment


Info = strawberry.Info[GatewayContext, None]

# Builds the fresh context of one operation, whatever carried it: the viewer, the
# request id, and the WebSocket connection that carried it (None over HTTP).
ContextFactory = Callable[[Viewer, str, WebSocketConnection | None], GatewayContext]
