"""The SaleProduct as readers see it: typed, upgraded, and checked for its version.

The gateway, the subscriptions, the benchmarks and extensions read documents through
``SaleProduct``, never through a document's keys. The common fields are attributes;
each section is read by the source that owns it (``product.get(catalog.SOURCE)``), which
returns that source's typed view.

One reader takes a shortcut: the search index builder reads its fields straight from
the changelog's JSON (``gateway/search/changelog_rows.py``), because building these
views was most of its cost. A test holds it to what these views read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from shopwindow.document import COMMON_FIELDS, META, parse_time, upgrade

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class SectionReader(Protocol[T_co]):
    """A declared source, as far as reading its section goes."""

    @property
    def section(self) -> str:
        """The document field the source owns."""

    @property
    def initial(self) -> Callable[[], Any]:
        """The section of a product nothing is known about yet."""

    @property
    def read(self) -> Callable[[Any], T_co]:
        """The typed view of the section."""


@dataclass(frozen=True, slots=True)
class SaleProduct:
    """One product's materialized document, as clients may see it.

    Attributes:
        id: The product id.
        schema_version: The document contract the materializer wrote it under.
        version: Increases with every change clients can see.
        updated_at: When the newest change it reflects happened at its source.
        materialized_at: When the materializer last wrote it.
        visible: Whether it is served (it is cataloged).
        sections: The sections, raw, by name; read them with ``get``.
    """

    id: str
    schema_version: int
    version: int
    updated_at: datetime | None
    materialized_at: datetime | None
    visible: bool
    sections: Mapping[str, Any]
    _read: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    _derived: dict[Callable[..., Any], Any] = field(default_factory=dict, compare=False, repr=False)

    def get(self, source: SectionReader[T_co]) -> T_co:
        """The typed view of ``source``'s section; its initial value if never written."""
        name = source.section
        if name not in self._read:
            raw = self.sections.get(name)
            self._read[name] = source.read(raw if name in self.sections else source.initial())
        value: T_co = self._read[name]
        return value

    def derived(self, compute: Callable[[SaleProduct], T]) -> T:
        """``compute(self)``, once per document: a view of several sections (a product's
        variants with their prices and stock), which several fields read."""
        if compute not in self._derived:
            self._derived[compute] = compute(self)
        value: T = self._derived[compute]
        return value


_COMMON = frozenset({*COMMON_FIELDS, META})


def read_sale_product(document: Mapping[str, Any]) -> SaleProduct:
    """Read a stored or announced document, upgrading it from older contracts.

    Args:
        document: From MongoDB or the changelog (with or without ``_meta``).

    Raises:
        NewerSchemaVersion: When a newer materializer wrote it.
    """
    # Readers never see _meta; leaving it out also keeps the upgrade from touching the
    # caller's nested bookkeeping.
    doc = upgrade({key: value for key, value in document.items() if key != META})
    return SaleProduct(
        id=str(doc["_id"]),
        schema_version=doc["schema_version"],
        version=doc["version"],
        updated_at=parse_time(doc.get("updated_at")),
        materialized_at=parse_time(doc.get("materialized_at")),
        visible=bool(doc.get("visible")),
        sections={key: value for key, value in doc.items() if key not in _COMMON},
    )
