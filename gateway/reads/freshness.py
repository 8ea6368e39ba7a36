"""How fresh an answer is: reported in ``extensions.freshness`` of every result.

Clients of an eventually consistent read model should see how old what they got is:
the oldest ``materializedAt`` among the products in the result, and how many changelog
records this replica's reader has still to read. Kept answers also need to know when a
scheduled price of those products begins or ends: they may not outlive that moment
(``until``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shopwindow.sale_product import SaleProduct


class Freshness:
    """What one result returned, as far as its age goes."""

    def __init__(self) -> None:
        self._oldest: datetime | None = None
        self._until: datetime | None = None
        self._documents: list[tuple[str, int]] = []

    def saw(self, product: SaleProduct, prices_until: datetime | None) -> None:
        """Count a product the result returns.

        Args:
            product: The product.
            prices_until: When one of its prices changes without a new record (a
                scheduled price begins or ends); ``None``: not before the next record.
        """
        self._documents.append((product.id, product.version))
        when = product.materialized_at
        if when is not None and (self._oldest is None or when < self._oldest):
            self._oldest = when
        if prices_until is not None and (self._until is None or prices_until < self._until):
            self._until = prices_until

    @property
    def until(self) -> datetime | None:
        """The first moment a price of a product returned changes without a new record:
        an answer holding them may not be kept past it."""
        return self._until

    @property
    def documents(self) -> list[tuple[str, int]]:
        """``(id, version)`` of every product returned since the last report."""
        return self._documents

    def report(self, changelog_lag: int | None) -> dict[str, Any]:
        """The ``freshness`` extension, and start afresh (for a subscription's next event).

        Args:
            changelog_lag: Changelog records this replica has not read yet; ``None``
                while its reader is not assigned.
        """
        oldest, self._oldest = self._oldest, None
        self._documents = []
        self._until = None
        return freshness_report(oldest, changelog_lag)

    @property
    def oldest(self) -> datetime | None:
        """The oldest ``materializedAt`` among the products returned since the last report."""
        return self._oldest


def freshness_report(oldest: datetime | None, changelog_lag: int | None) -> dict[str, Any]:
    """The ``freshness`` extension of a result.

    Args:
        oldest: The oldest ``materializedAt`` among its products.
        changelog_lag: Changelog records this replica has not read yet.
    """
    return {
        "oldestMaterializedAt": oldest.isoformat() if oldest else None,
        "changelogLag": changelog_lag,
    }
