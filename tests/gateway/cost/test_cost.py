"""The cost rules, one row each: estimated before execution and counted after."""

from __future__ import annotations

import enum
from typing import Any

import pytest
import strawberry
from graphql import (
    FragmentDefinitionNode,
    OperationDefinitionNode,
    get_named_type,
    is_composite_type,
    is_list_type,
    is_non_null_type,
    parse,
)
from hypothesis import given
from hypothesis import strategies as st

from shopwindow.cost_directives import (
    DEFAULT_LIST_SIZE,
    cost,
    declared_by,
    list_size,
)
from shopwindow.gateway.cost.estimate import CostEstimator
from shopwindow.gateway.schema.build import build_schema


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"


@strawberry.type
class Tag:
    name: str


@strawberry.type(directives=[cost(5)])
class Heavy:
    x: int


@strawberry.type
class Item:
    id: strawberry.ID
    colour: Colour
    labels: list[str]
    tags: list[Tag]
    sized_tags: list[Tag] = strawberry.field(directives=[list_size(assumed=3)])
    heavy: Heavy | None
    priced: int = strawberry.field(directives=[cost(7)])


@strawberry.type
class Edge:
    node: Item


@strawberry.type
class Page:
    edges: list[Edge]
    total: int


def _item(id: strawberry.ID) -> Item | None:
    return None


def _items(ids: list[strawberry.ID]) -> list[Item | None]:
    return []


def _page(first: int = 4) -> Page:
    return Page(edges=[], total=0)


def _top(first: int | None = None, last: int | None = None) -> list[Item]:
    return []


@strawberry.type
class Query:
    item: Item | None = strawberry.field(resolver=_item)
    items: list[Item | None] = strawberry.field(
        resolver=_items, directives=[list_size(assumed=100)]
    )
    page: Page = strawberry.field(
        resolver=_page, directives=[list_size(slicing=["first"], sized_fields=["edges"])]
    )
    top: list[Item] = strawberry.field(
        resolver=_top,
        directives=[list_size(slicing=["first", "last"], assumed=6, require_one=False)],
    )


class _Schema(strawberry.Schema):
    def _warn_for_federation_directives(self) -> None:
        pass  # @cost and @listSize are federation's directives: meant here.


SCHEMA = _Schema(query=Query)._schema
COSTS = CostEstimator(SCHEMA)


def _operation(text: str) -> tuple[OperationDefinitionNode, dict[str, FragmentDefinitionNode]]:
    document = parse(text)
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return operation, fragments


def estimate(text: str, variables: dict[str, Any] | None = None) -> int:
    operation, fragments = _operation(text)
    return COSTS.estimate(operation, fragments, variables)


def actual(text: str, data: Any) -> int:
    operation, fragments = _operation(text)
    return COSTS.actual(operation, fragments, data)


@pytest.mark.parametrize(
    ("query", "variables", "expected"),
    [
        ('{ item(id: "a") { id } }', None, 1),  # an object 1, a scalar 0
        ('{ item(id: "a") { colour } }', None, 1),  # an enum 0
        ('{ item(id: "a") { labels } }', None, 1),  # a list of scalars 0
        ('{ item(id: "a") { tags { name } } }', None, 1 + DEFAULT_LIST_SIZE),
        ('{ item(id: "a") { sizedTags { name } } }', None, 1 + 3),  # assumedSize
        ('{ item(id: "a") { heavy { x } } }', None, 1 + 5),  # @cost on the type
        ('{ item(id: "a") { priced } }', None, 1 + 7),  # @cost on a scalar field
        ('{ items(ids: ["a", "b", "c"]) { heavy { x } } }', None, 3 * (1 + 5)),
        ("query($ids: [ID!]!) { items(ids: $ids) { id } }", {"ids": list("abcde")}, 5),
        ("query($ids: [ID!]!) { items(ids: $ids) { id } }", {"ids": []}, 0),
        # Sized by its list's length (ours), else by assumedSize as a router would.
        ("query($ids: [ID!]!) { items(ids: $ids) { id } }", {}, 100),
        ("{ page(first: 2) { total edges { node { id } } } }", None, 1 + 2 * (1 + 1)),
        ("{ page { edges { node { id } } } }", None, 1 + 4 * (1 + 1)),  # the default
        ("query($n: Int!) { page(first: $n) { edges { cursor: node { id } } } }", {"n": 7}, 15),
        ("{ top { id } }", None, 6),  # no slicing argument given: assumedSize
        ("{ top(first: 2, last: 5) { id } }", None, 5),  # several given: the largest
        ("{ top(first: -3) { id } }", None, 0),  # never negative
        ("query($n: Int) { top(first: $n) { id } }", {"n": None}, 6),
        ("query($n: Int) { top(first: $n) { id } }", {"n": "9"}, 6),  # not a size
        ('{ a: item(id: "a") { heavy { x } } b: item(id: "b") { heavy { x } } }', None, 12),
        (
            '{ items(ids: ["a", "b"]) { ...F } } fragment F on Item { heavy { x } }',
            None,
            2 * (1 + 5),
        ),
        (
            '{ items(ids: ["a", "b"]) { ...F ...F } } fragment F on Item { heavy { x } }',
            None,
            2 * (1 + 2 * 5),  # each spread is counted, as each alias is
        ),
        ('{ item(id: "a") { ... on Item { heavy { x } } } }', None, 1 + 5),
        ("{ __typename }", None, 0),  # the root costs nothing
        ('{ __type(name: "Item") { name } }', None, 1),
    ],
)
def test_estimate(query: str, variables: dict[str, Any] | None, expected: int) -> None:
    assert estimate(query, variables) == expected


@pytest.mark.parametrize(
    ("query", "data", "expected"),
    [
        (
            '{ items(ids: ["a", "b", "c"]) { heavy { x } } }',
            {"items": [{"heavy": {"x": 1}}, None, {"heavy": None}]},
            (1 + 5) + 0 + 1,  # what came back: a missing item or object costs nothing
        ),
        (
            "{ page(first: 10) { edges { node { id } } } }",
            {"page": {"edges": [{"node": {"id": "a"}}, {"node": {"id": "b"}}]}},
            1 + 2 * (1 + 1),  # the real length, not `first`
        ),
        (
            '{ item(id: "a") { heavy { x } ...F } } fragment F on Item { heavy { x } }',
            {"item": {"heavy": {"x": 1}}},
            1 + 5,  # one response key, counted once
        ),
        (
            '{ one: item(id: "a") { priced } two: item(id: "b") { priced } }',
            {"one": {"priced": 3}, "two": None},
            1 + 7,
        ),
        ('{ item(id: "a") { tags { name } } }', {"item": {"tags": [{"name": "t"}] * 25}}, 26),
        ('{ item(id: "a") { id } }', None, 0),  # nothing ran
    ],
)
def test_actual(query: str, data: Any, expected: int) -> None:
    assert actual(query, data) == expected


@given(st.lists(st.one_of(st.none(), st.booleans()), max_size=30), st.integers(0, 30))
def test_what_returns_within_the_sizes_never_costs_more_than_estimated(
    items: list[bool | None], extra: int
) -> None:
    # items: None for a missing product, False for one without `heavy`, True with it.
    ids = [f"p{n}" for n in range(len(items) + extra)]
    query = "query($ids: [ID!]!) { items(ids: $ids) { heavy { x } sizedTags { name } } }"
    data: dict[str, Any] = {
        "items": [
            None if item is None else {"heavy": {"x": 1} if item else None, "sizedTags": []}
            for item in items
        ]
    }
    operation, fragments = _operation(query)
    estimated = COSTS.estimate(operation, fragments, {"ids": ids})
    assert COSTS.actual(operation, fragments, data) <= estimated


def _sized_by_parent(schema: Any) -> set[tuple[str, str]]:
    # (type, field) pairs a field returning that type sizes with `sizedFields`.
    sized = set()
    for named in schema.type_map.values():
        for field in getattr(named, "fields", {}).values():
            for child in declared_by(field).sized_fields:
                sized.add((get_named_type(field.type).name, child))
    return sized


def test_every_list_of_objects_in_our_schema_declares_its_size() -> None:
    # A router that enforces our directives would otherwise guess the size.
    schema = build_schema()._schema
    sized = _sized_by_parent(schema)
    unsized = []
    for named in schema.type_map.values():
        if named.name.startswith("__"):
            continue
        for name, field in getattr(named, "fields", {}).items():
            inner = field.type.of_type if is_non_null_type(field.type) else field.type
            if not is_list_type(inner) or not is_composite_type(get_named_type(inner)):
                continue
            if not declared_by(field).has_list_size and (named.name, name) not in sized:
                unsized.append(f"{named.name}.{name}")
    assert unsized == []
