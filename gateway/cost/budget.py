"""Per-client cost budgets: a leaky bucket per client, spent by each operation's cost.

Every client (a token's ``sub``, or the address of an anonymous viewer) has a bucket of
``capacity`` points that refills at ``restore_rate_per_s``. An operation is admitted
when its estimated cost fits in what is left, and spends it; otherwise it is refused
with the time after which it would fit (HTTP 429 with ``Retry-After``). The same bucket
is spent whatever the transport, so batching, aliases, fragments (all in the estimate)
or a WebSocket do not dodge it. Once a query has run, what its estimate exceeded its
actual cost by is given back (``refund``), as Shopify does: a client pays for what it
got, and is admitted only for what it might get. What is left is reported in ``extensions.cost``
(``throttleStatus``), as Shopify's storefront API does.

Pure: the clock is passed in. Memory is bounded: buckets are kept for at most
``max_clients`` clients, the least recently seen forgotten first. A forgotten client
starts again with a full bucket, so a client gains from it only after ``max_clients``
other clients were seen meanwhile.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass


def client_key(subject: str | None, address: str | None) -> str:
    """Whose budget an operation spends: the token's subject, or for an anonymous
    viewer the client's address (``unknown`` when the server was not told it)."""
    return f"sub:{subject}" if subject else f"addr:{address or 'unknown'}"


@dataclass(frozen=True, slots=True)
class ThrottleStatus:
    """A client's bucket after an operation, as ``extensions.cost.throttleStatus``."""

    maximum_available: int
    currently_available: int
    restore_rate: int

    def as_extension(self) -> dict[str, int]:
        """The GraphQL extension's shape."""
        return {
            "maximumAvailable": self.maximum_available,
            "currentlyAvailable": self.currently_available,
            "restoreRate": self.restore_rate,
        }


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether an operation may run now.

    Attributes:
        admitted: It may, and its cost was spent.
        status: The bucket afterwards (or unchanged, when refused).
        retry_after_s: When refused, the whole seconds until its cost fits.
        never: Refused because its cost exceeds a full bucket: waiting does not help.
    """

    admitted: bool
    status: ThrottleStatus
    retry_after_s: int = 0
    never: bool = False


class ClientBudgets:
    """The buckets of every client.

    Args:
        capacity: Points a full bucket holds (the most one operation may cost).
        restore_rate_per_s: Points a bucket regains per second, up to ``capacity``.
        max_clients: Buckets kept at most.
    """

    def __init__(self, capacity: int, restore_rate_per_s: int, max_clients: int = 100_000) -> None:
        if capacity < 1 or restore_rate_per_s < 1 or max_clients < 1:
            raise ValueError("capacity, restore rate and max_clients must be positive")
        self.capacity = capacity
        self.restore_rate_per_s = restore_rate_per_s
        self._max_clients = max_clients
        # client -> (points left, when last updated, seconds by the caller's clock)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def admit(self, client: str, cost: int, now_s: float) -> Admission:
        """Spend ``cost`` from ``client``'s bucket if it fits.

        Args:
            client: Who is asking.
            cost: The operation's estimated cost (negative counts as 0).
            now_s: The caller's monotonic clock.
        """
        left = self._left(client, now_s)
        cost = max(cost, 0)
        if cost <= left:
            left -= cost
            self._keep(client, left, now_s)
            return Admission(True, self._status(left))
        self._keep(client, left, now_s)
        if cost > self.capacity:
            return Admission(False, self._status(left), never=True)
        retry_after_s = max(1, math.ceil((cost - left) / self.restore_rate_per_s))
        return Admission(False, self._status(left), retry_after_s)

    def refund(self, client: str, points: int, now_s: float) -> ThrottleStatus:
        """Give back ``points`` an admitted operation did not use (its estimate less
        its actual cost), up to a full bucket.

        Args:
            client: Whose bucket.
            points: What to give back (nothing when not positive).
            now_s: The caller's monotonic clock.
        """
        left = min(self.capacity, self._left(client, now_s) + max(points, 0))
        self._keep(client, left, now_s)
        return self._status(left)

    def _left(self, client: str, now_s: float) -> float:
        kept = self._buckets.get(client)
        if kept is None:
            return float(self.capacity)
        left, then_s = kept
        # A clock that went back refills nothing; it never takes points away.
        return min(self.capacity, left + max(now_s - then_s, 0.0) * self.restore_rate_per_s)

    def _keep(self, client: str, left: float, now_s: float) -> None:
        self._buckets[client] = (left, now_s)
        self._buckets.move_to_end(client)
        while len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)

    def _status(self, left: float) -> ThrottleStatus:
        return ThrottleStatus(self.capacity, math.floor(left), self.restore_rate_per_s)
