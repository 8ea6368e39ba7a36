"""The depth and ofType rules as tables, through fragments: chains, diamonds, cycles,
unknown spreads, and a document of fragments that each spread the next twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from graphql import SelectionSetNode, parse, validate

from shopwindow.gateway.execution.fragment_summaries import fragments_of, summarise_fragments
from shopwindow.gateway.execution.limits import (
    MAX_TYPE_WRAPPING,
    MaxTypeWrappingRule,
    _depth,
    max_depth_rule,
)
from shopwindow.gateway.schema.build import build_schema

SCHEMA = build_schema()._schema


def bomb(levels: int) -> str:
    """Fragments that each spread the next twice: 2^levels paths to the last one."""
    spreads = " ".join(
        f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(levels)
    )
    return f"query {{ ...F0 }} {spreads} fragment F{levels} on Query {{ __typename }}"


DEPTHS: list[tuple[str, str, int]] = [
    ("fields", '{ product(id: "x") { price { amount } } }', 3),
    (
        "through a fragment",
        '{ product(id: "x") { ...P } } fragment P on Product { price { amount } }',
        3,
    ),
    (
        "a diamond takes its deeper side",
        '{ product(id: "x") { ...A ...B } } fragment A on Product { ...C } '
        "fragment B on Product { price { ...C } } fragment C on Price { amount }",
        3,
    ),
    ("an unknown spread counts nothing", '{ product(id: "x") { ...Nowhere id } }', 2),
    (
        "a cycle is cut where it closes",
        '{ product(id: "x") { ...A } } fragment A on Product { price { ...B } } '
        "fragment B on Price { ...A }",
        2,
    ),
    ("introspection is not counted", "{ __schema { types { fields { name } } } }", 0),
    ("a bomb of 150 fragments", bomb(150), 1),
]


@pytest.mark.parametrize(("document", "depth"), [c[1:] for c in DEPTHS], ids=[c[0] for c in DEPTHS])
def test_the_depth_of_a_document(document: str, depth: int) -> None:
    parsed = parse(document)
    fragments = summarise_fragments(fragments_of(parsed), _depth)
    operation = parsed.definitions[0]
    assert _depth(operation.selection_set, fragments.get) == depth  # type: ignore[attr-defined]
    refused = validate(SCHEMA, parsed, [max_depth_rule(depth)])
    assert not [e for e in refused if "nested" in e.message]
    if depth:
        refused = validate(SCHEMA, parsed, [max_depth_rule(depth - 1)])
        assert [e.message for e in refused if "nested" in e.message] == [
            f"Query is nested {depth} levels deep; the limit is {depth - 1}."
        ]


def test_each_fragment_is_summarised_once() -> None:
    """However many paths lead to a fragment, it is walked once: the bomb's 2^150 paths
    are 151 walks."""
    calls: list[int] = []

    def counted(selection_set: SelectionSetNode, fragment: Callable[[str], int | None]) -> int:
        calls.append(1)
        return _depth(selection_set, fragment)

    summaries = summarise_fragments(fragments_of(parse(bomb(150))), counted)
    assert len(calls) == len(summaries) == 151


def of_type(depth: int) -> str:
    return "ofType { " * depth + "name" + " }" * depth


WRAPPINGS: list[tuple[str, str, bool]] = [
    ("at the bound", f'{{ __type(name: "Product") {{ {of_type(MAX_TYPE_WRAPPING)} }} }}', True),
    ("past it", f'{{ __type(name: "Product") {{ {of_type(MAX_TYPE_WRAPPING + 1)} }} }}', False),
    (
        "past it, split over two fragments",
        '{ __type(name: "Product") { ...A } } '
        f"fragment A on __Type {{ {'ofType { ' * 9}...B{' }' * 9} }} "
        f"fragment B on __Type {{ {of_type(8)} }}",
        False,
    ),
    (
        "two runs apart, each within",
        '{ __type(name: "Product") { '
        f"{'ofType { ' * 10}fields {{ type {{ {of_type(10)} }} }}{' }' * 10} }} }}",
        True,
    ),
    (
        "a fragment spread twice, within",
        '{ __type(name: "Product") { ...A ofType { ...A } } } '
        f"fragment A on __Type {{ {of_type(MAX_TYPE_WRAPPING - 1)} }}",
        True,
    ),
]


@pytest.mark.parametrize(
    ("document", "allowed"), [c[1:] for c in WRAPPINGS], ids=[c[0] for c in WRAPPINGS]
)
def test_of_type_chains_are_bounded(document: str, allowed: bool) -> None:
    errors: list[Any] = validate(SCHEMA, parse(document), [MaxTypeWrappingRule])
    assert (errors == []) is allowed, errors
