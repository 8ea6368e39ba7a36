"""Variant-level search as index terms: which products have a variant that matches.

A filter on options holds at the variant level: ``size: M`` with ``color: blue`` and
``inStock: true`` keeps a product only if one variant is a blue M in stock. The index
keeps one document per product, so each variant is written into it as terms, one per
subset of the product's options (at most 3 options, so at most 7 subsets), and once
more marked when the variant is in stock::

    color␟blue   size␟M   color␟blue␞size␟M   color␟blue␞size␟M␝ ...

A filter becomes the terms of its combinations, and a product matches when it has one.
Option names and values never hold control characters (the catalog refuses them), so
the separators cannot occur inside them.

Prices depend on the viewer's segment and cannot be terms: the cheapest matching
variant is found from the variants the index keeps per product (``cheapest_chooser``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence

from shopwindow.gateway.search.engine import OptionFilter
from shopwindow.gateway.search.rows import VariantRow, is_market_key

VALUE_MARK = "\x1f"
PAIR_MARK = "\x1e"
IN_STOCK_MARK = "\x1d"
# A filter's combinations are its values multiplied across options; beyond this, the
# request is refused rather than turned into a query of millions of terms.
MAX_COMBINATIONS = 1024


def _pairs(pairs: Iterable[tuple[str, str]]) -> str:
    return PAIR_MARK.join(f"{name}{VALUE_MARK}{value}" for name, value in pairs)


def variant_terms(option_names: Sequence[str], variants: Sequence[VariantRow]) -> list[str]:
    """The terms that say which combinations of options a product has in a variant,
    and which of those it has in stock."""
    order = sorted(range(len(option_names)), key=option_names.__getitem__)
    subsets = [
        subset
        for size in range(1, len(order) + 1)
        for subset in itertools.combinations(order, size)
    ]
    terms: set[str] = set()
    for variant in variants:
        for subset in subsets:
            term = _pairs((option_names[i], variant.values[i]) for i in subset)
            terms.add(term)
            if variant.in_stock:
                terms.add(term + IN_STOCK_MARK)
    return sorted(terms)


def combinations(options: Sequence[OptionFilter]) -> int:
    """How many terms the filter ``options`` becomes."""
    count = 1
    for option in options:
        count *= len(option.values)
    return count


def wanted_terms(options: Sequence[OptionFilter], in_stock: bool) -> list[str]:
    """The terms of which a matching product has one: a variant with one of the values
    of every option filtered, and in stock when ``in_stock``."""
    ordered = sorted(options, key=lambda option: option.name)
    mark = IN_STOCK_MARK if in_stock else ""
    return [
        _pairs(zip([o.name for o in ordered], values, strict=True)) + mark
        for values in itertools.product(*(o.values for o in ordered))
    ]


def _literal(text: str) -> str:
    # A regular expression matching ``text`` alone, whatever characters it holds: every
    # character but letters and digits as a code point escape, which Rust's regex
    # crate (tantivy's) reads in any position.
    return "".join(c if c.isalnum() else f"\\x{{{ord(c):X}}}" for c in text)


def facet_pattern(name: str, others: Sequence[OptionFilter], in_stock: bool) -> str:
    """A regular expression over terms: those of one value of option ``name`` together
    with the single value of each option in ``others``, in stock when ``in_stock``.

    Raises:
        ValueError: When an option in ``others`` has more than one value: a product
            could then hold several such terms for one value, and be counted twice.
    """
    if any(len(option.values) != 1 for option in others):
        raise ValueError("each other option must have exactly one value")
    fixed = {option.name: option.values[0] for option in others if option.name != name}
    parts = []
    for option_name in sorted([*fixed, name]):
        value = (
            f"[^{_literal(IN_STOCK_MARK)}-{_literal(VALUE_MARK)}]+"
            if option_name == name
            else _literal(fixed[option_name])
        )
        parts.append(f"{_literal(option_name)}{_literal(VALUE_MARK)}{value}")
    return _literal(PAIR_MARK).join(parts) + (_literal(IN_STOCK_MARK) if in_stock else "")


def value_of(term: str, name: str) -> str:
    """The value of option ``name`` in a term made by ``variant_terms``."""
    for pair in term.rstrip(IN_STOCK_MARK).split(PAIR_MARK):
        pair_name, _, value = pair.partition(VALUE_MARK)
        if pair_name == name:
            return value
    raise KeyError(name)


def value_checks(
    option_names: Sequence[str], options: Sequence[OptionFilter]
) -> list[tuple[int, frozenset[str]]] | None:
    """The rule of an option filter for products with ``option_names``: per option
    filtered, its position among the product's options and the values it allows;
    ``None`` when the product lacks one of the options (then nothing matches)."""
    try:
        return [(option_names.index(o.name), frozenset(o.values)) for o in options]
    except ValueError:
        return None


Chooser = Callable[[Sequence[VariantRow]], "float | None"]


def cheapest_chooser(
    option_names: Sequence[str],
    options: Sequence[OptionFilter],
    in_stock: bool | None,
    segment: str | None,
) -> Chooser:
    """What picks, among the variants of a product with ``option_names``, the viewer's
    price of the cheapest one matching the filter, as ``Product.price`` chooses among all
    variants: among those in stock if any is, else among all matching; ``None`` when
    none of them has a price.

    Made once per filter and kind of product: search applies it to every product an
    option filter matched, tens of thousands for "size M, cheapest first".
    """
    checks = value_checks(option_names, options)
    if checks is None:  # An option the product does not have: nothing matches.
        return lambda variants: None
    # As ``VariantRow.viewer_price``: a segment without its own price pays the base
    # price; another market's viewer has no price where that market has none.
    fallback = not is_market_key(segment)

    def cheapest(variants: Sequence[VariantRow]) -> float | None:
        # Written for speed: tuple unpacking and for-else, no generator per variant.
        available: float | None = None
        sold_out: float | None = None
        for values, stocked, base, segment_prices in variants:
            for position, allowed in checks:
                if values[position] not in allowed:
                    break
            else:
                if in_stock is not None and stocked != in_stock:
                    continue
                price = base if segment is None else segment_prices.get(segment)
                if price is None and fallback:
                    price = base
                if price is None:
                    continue
                if stocked:
                    if available is None or price < available:
                        available = price
                elif sold_out is None or price < sold_out:
                    sold_out = price
        return available if available is not None else sold_out

    return cheapest
