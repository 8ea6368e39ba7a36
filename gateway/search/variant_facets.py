"""Option facets: per option and value, the products a shopper would see on picking it.

Counting is disjunctive, like the other facets: an option's values are counted with
every filter applied except the option's own, which is replaced by the value counted.
So with ``color: blue`` and ``inStock: true`` selected, ``size: M`` counts the products
with a blue M in stock, and ``color: red`` those with a red variant in stock.

Three ways to count, cheapest first:
- every other option filtered has one value: one terms aggregation over the variant
  terms per option, each bucket being one value (``facet_pattern``);
- another option has several values (blue or red): a product can hold several terms
  for one value, so each value is counted by a query of its own;
- a price bound is set: the cheapest matching variant decides, which only the kept
  variants can tell (``VariantTable.option_counts``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import tantivy

from shopwindow.gateway.search.engine import Filters, OptionFacet, OptionFilter, ValueCount
from shopwindow.gateway.search.tantivy_query import variant_clause
from shopwindow.gateway.search.variant_terms import facet_pattern, value_of

# Options reported at most, the most common among the matches first.
MAX_OPTION_FACETS = 20
# Every value of one option: the most common are chosen after counting, and in-stock
# counts are subtracted value by value.
ALL_VALUES = 65_536
Counts = Callable[[tantivy.Query], int]


def option_names(searcher: tantivy.Searcher, base: tantivy.Query) -> list[str]:
    """The options of the products ``base`` matches, the most common first."""
    spec = {"names": {"terms": {"field": "option_name", "size": MAX_OPTION_FACETS}}}
    buckets = searcher.aggregate(base, spec)["names"]["buckets"]
    ranked = sorted(buckets, key=lambda b: (-int(b["doc_count"]), str(b["key"])))
    return [str(b["key"]) for b in ranked]


def facets_of(
    names: Sequence[str], counts: dict[str, Counter[str]], values: int
) -> list[OptionFacet]:
    """Facets in ``names``' order, each with its ``values`` most common values."""
    found = []
    for name in names:
        ranked = sorted(counts.get(name, Counter()).items(), key=lambda i: (-i[1], i[0]))
        kept = [ValueCount(value, count) for value, count in ranked[:values] if count > 0]
        if kept:
            found.append(OptionFacet(name, kept))
    return found


def counted_by_terms(
    schema: tantivy.Schema,
    searcher: tantivy.Searcher,
    base: tantivy.Query,
    filters: Filters,
    names: Sequence[str],
    values: int,
    count: Counts,
) -> dict[str, Counter[str]]:
    """Option value counts of the products ``base`` matches, without a price bound."""
    counts: dict[str, Counter[str]] = {name: Counter() for name in names}
    spec: dict[str, Any] = {}
    wide: list[tuple[str, tuple[OptionFilter, ...]]] = []
    in_stock = filters.in_stock
    for position, name in enumerate(names):
        others = tuple(o for o in filters.options if o.name != name)
        if any(len(o.values) != 1 for o in others):
            wide.append((name, others))
            spec[f"v{position}"] = _terms("option", facet_pattern(name, (), False), values)
            continue
        field = "option" if not others and in_stock is None else "variant"
        spec[f"a{position}"] = _terms(field, facet_pattern(name, others, in_stock is True))
        if in_stock is False:
            spec[f"b{position}"] = _terms(field, facet_pattern(name, others, True))
    result = searcher.aggregate(base, spec) if spec else {}
    for position, name in enumerate(names):
        for key, sign in ((f"a{position}", 1), (f"b{position}", -1)):
            for found in result.get(key, {}).get("buckets", ()):
                counts[name][value_of(str(found["key"]), name)] += sign * int(found["doc_count"])
    for name, others in wide:
        position = names.index(name)
        for found in result[f"v{position}"]["buckets"]:
            value = value_of(str(found["key"]), name)
            chosen = (*others, OptionFilter(name, (value,)))
            clause = variant_clause(schema, chosen, in_stock)
            counts[name][value] = count(
                tantivy.Query.boolean_query(
                    [(tantivy.Occur.Must, base), (tantivy.Occur.Must, clause)]
                )
            )
    return counts


def _terms(field: str, pattern: str, size: int = ALL_VALUES) -> dict[str, Any]:
    return {"terms": {"field": field, "include": pattern, "size": size}}
