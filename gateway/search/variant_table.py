"""The variants the index keeps per product, for what terms cannot say: prices.

The cheapest matching variant depends on the filter and on the viewer's segment, so
price filters, price sorts and price facets over products filtered by option are worked
out here, for the products the index's terms already matched. Products are known by
an ordinal, a number the index stores as a fast field, so matches come back from the
index without reading a stored document.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from decimal import Decimal

from shopwindow.gateway.search.engine import Filters, OptionFilter
from shopwindow.gateway.search.rows import IndexRow, VariantRow, money
from shopwindow.gateway.search.variant_terms import Chooser, cheapest_chooser, value_checks


def within(price: float | None, filters: Filters) -> bool:
    """Whether ``price`` is within the filter's bounds; no price never is."""
    if price is None:
        return False
    low, high = filters.price_min, filters.price_max
    return (low is None or price >= money(low)) and (high is None or price <= money(high))


class VariantTable:
    """Products by ordinal, with the variants of those that have options."""

    def __init__(self) -> None:
        self._ordinals: dict[str, int] = {}
        self._ids: list[str] = []
        self._variants: dict[int, tuple[tuple[str, ...], tuple[VariantRow, ...]]] = {}

    def known(self, product_id: str) -> bool:
        """Whether the product was ever written to the index."""
        return product_id in self._ordinals

    def ordinal(self, product_id: str) -> int:
        """The product's ordinal; a new one for a product never written."""
        found = self._ordinals.get(product_id)
        if found is None:
            found = self._ordinals[product_id] = len(self._ids)
            self._ids.append(product_id)
        return found

    def id_of(self, ordinal: int) -> str:
        """The product id of ``ordinal``."""
        return self._ids[ordinal]

    def keep(self, ordinal: int, row: IndexRow | None) -> None:
        """Keep the variants of ``row`` (or forget them: ``None``, or no options)."""
        if row is None or not row.option_names:
            self._variants.pop(ordinal, None)
        else:
            self._variants[ordinal] = (row.option_names, row.variants)

    def prices(
        self, ordinals: Iterable[int], filters: Filters, segment: str | None
    ) -> dict[int, float | None]:
        """The viewer's price of each product's cheapest variant matching ``filters``."""
        found: dict[int, float | None] = {}
        choosers: dict[tuple[str, ...], Chooser] = {}
        variants = self._variants
        for ordinal in ordinals:
            kept = variants.get(ordinal)
            if kept is None:
                found[ordinal] = None
                continue
            names, rows = kept
            choose = choosers.get(names)
            if choose is None:
                choose = choosers[names] = cheapest_chooser(
                    names, filters.options, filters.in_stock, segment
                )
            found[ordinal] = choose(rows)
        return found

    def option_counts(
        self, ordinals: Iterable[int], filters: Filters, segment: str | None, names: Sequence[str]
    ) -> dict[str, Counter[str]]:
        """Per option in ``names`` and value: the products that match ``filters`` with
        that option's filter replaced by the value (disjunctive counting)."""
        counts: dict[str, Counter[str]] = {name: Counter() for name in names}
        priced = filters.price_min is not None or filters.price_max is not None
        for ordinal in ordinals:
            kept = self._variants.get(ordinal)
            if kept is None:
                continue
            option_names, variants = kept
            for name in names:
                if name not in option_names:
                    continue
                position = option_names.index(name)
                others = tuple(o for o in filters.options if o.name != name)
                for value in {variant.values[position] for variant in variants}:
                    chosen = replace(filters, options=(*others, OptionFilter(name, (value,))))
                    if _matches(option_names, variants, chosen, segment, priced):
                        counts[name][value] += 1
        return counts


def _matches(
    option_names: tuple[str, ...],
    variants: tuple[VariantRow, ...],
    filters: Filters,
    segment: str | None,
    priced: bool,
) -> bool:
    checks = value_checks(option_names, filters.options)
    if checks is None:
        return False
    matching = [v for v in variants if all(v.values[p] in allowed for p, allowed in checks)]
    if filters.in_stock is True:
        matching = [v for v in matching if v.in_stock]
    elif filters.in_stock is False and any(v.in_stock for v in matching):
        return False
    if not matching:
        return False
    if not priced:
        return True
    choose = cheapest_chooser(option_names, filters.options, filters.in_stock, segment)
    return within(choose(variants), filters)


def bucket(prices: Iterable[float | None], edges: Sequence[Decimal | None]) -> list[int]:
    """How many of ``prices`` fall in each ``[edges[i], edges[i + 1])``; open ends are
    ``None``; no price is in none."""
    bounds = [None if edge is None else money(edge) for edge in edges]
    counts = [0] * (len(bounds) - 1)
    for price in prices:
        if price is None:
            continue
        for position, (low, high) in enumerate(zip(bounds, bounds[1:], strict=False)):
            if (low is None or price >= low) and (high is None or price < high):
                counts[position] += 1
                break
    return counts
