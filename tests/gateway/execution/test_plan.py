"""Execution plans answer exactly as graphql-core's executor does.

Hypothesis writes queries over the real schema (aliases, repeated fields, inline and
named fragments, variables, arguments out of range, unknown and failing products) and
runs each through both executors over the same documents, made by the real fold.
``make fuzz`` runs it at ``SHOPWINDOW_FUZZ_SCALE`` times the examples.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from graphql import (
    ExecutionResult,
    FragmentDefinitionNode,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    OperationDefinitionNode,
    execute,
    parse,
    specified_rules,
    validate,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strawberry.dataloader import DataLoader

from shopwindow.document import NewerSchemaVersion
from shopwindow.gateway.cost.estimate import CostEstimator
from shopwindow.gateway.execution.auth import ANONYMOUS, Viewer
from shopwindow.gateway.execution.context import GatewayContext
from shopwindow.gateway.execution.limits import Limits
from shopwindow.gateway.execution.operation import OperationRefused
from shopwindow.gateway.execution.plan import ExecutionPlan, Unplannable
from shopwindow.gateway.execution.policy import OperationPolicy
from shopwindow.gateway.metrics import GatewayMetrics
from shopwindow.gateway.reads.loaders import CategoryPages, encode_cursor
from shopwindow.gateway.schema.build import build_schema
from shopwindow.materializer.decode import decode_record
from shopwindow.materializer.events import Position
from shopwindow.materializer.fold import FoldSettings, fold
from shopwindow.materializer.sources import catalog
from shopwindow.sale_product import SaleProduct, read_sale_product
from tests import kinds
from tests.fuzz import SCALE
from tests.gateway.conftest import full_product
from tests.helpers import encode
from tests.materializer.conftest import catalog as catalog_value
from tests.materializer.conftest import price, sizes, stock_take

SCHEMA: GraphQLSchema = build_schema()._schema
IDS = ["a", "b", "c"]
LIMITS = Limits(
    max_depth=10, max_aliases=10, max_tokens=1000, max_cost=1000, timeout_s=1, introspection=True
)
BROKEN = "broken"  # Its document is of a newer contract: an error for it alone.


# "b" is sold in sizes, one of them sold out, one priced apart: the variant fields
# (options, variants, priceRange, selectedOrFirstAvailableVariant) see real variants.
VARIANTS: dict[str, list[tuple[Any, dict[str, Any]]]] = {
    "b": [
        (kinds.CATALOG, {**catalog_value("b", minutes=1), **sizes(["S", "M", "L.1"])}),
        (kinds.PRICES, {**price("b", "12.00", minutes=1), "sku": "M"}),
        (kinds.INVENTORY, {**stock_take(2, "b"), "sku": "M"}),
        (kinds.INVENTORY, {**stock_take(5, "b"), "sku": "L.1"}),
    ]
}


def document(product_id: str, category: str) -> SaleProduct:
    sourced = [
        kinds.sourced_event(
            kind,
            decode_record(kind, product_id.encode(), encode(value)).event,
            Position(kind.setting, 0, offset),
        )
        for offset, (kind, value) in enumerate(
            [*full_product(product_id, category), *VARIANTS.get(product_id, [])]
        )
    ]
    doc = fold(None, product_id, sourced, FoldSettings()).document
    assert doc is not None
    return read_sale_product(doc)


DOCUMENTS = {pid: document(pid, "shoes" if pid != "c" else "hats") for pid in IDS}


def category_of(product: SaleProduct) -> str | None:
    section = product.get(catalog.SOURCE)
    return section.category if section is not None else None


class MemoryDocuments:
    """The documents' category pages, from memory."""

    async def category_page(
        self, category: str, after_id: str | None, first: int
    ) -> list[SaleProduct]:
        docs = [d for pid, d in sorted(DOCUMENTS.items()) if category_of(d) == category]
        return [d for d in docs if after_id is None or d.id > after_id][: first + 1]


def context(segment: str | None) -> GatewayContext:
    async def load(ids: list[str]) -> list[Any]:
        return [NewerSchemaVersion(i, 99) if i == BROKEN else DOCUMENTS.get(i) for i in ids]

    products: DataLoader[str, SaleProduct | None] = DataLoader(load_fn=load)
    categories = CategoryPages(cast(Any, MemoryDocuments()), products)
    return GatewayContext(
        products=products,
        categories=categories,
        viewer=Viewer("u1", segment) if segment else ANONYMOUS,
    )


def object_fields(type_name: str) -> dict[str, Any]:
    kind = SCHEMA.get_type(type_name)
    assert isinstance(kind, GraphQLObjectType)
    return dict(kind.fields)


def named(kind: Any) -> Any:
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        kind = kind.of_type
    return kind


product_id = st.sampled_from([*IDS, BROKEN, "missing", "", "a" * 300])


@st.composite
def root_field(draw: st.DrawFn) -> tuple[str, str]:
    """A root field with arguments, and the type its selection is on."""
    choice = draw(st.sampled_from(["product", "products", "productsByCategory"]))
    if choice == "product":
        return f'product(id: "{draw(product_id)}")', "Product"
    if choice == "products":
        ids = draw(st.lists(product_id, max_size=4))
        many = draw(st.booleans()) and draw(st.booleans())
        listed = ", ".join(f'"{i}"' for i in (ids * 40 if many else ids))
        return f"products(ids: [{listed}])", "Product"
    category = draw(st.sampled_from(["shoes", "hats", "none"]))
    first = draw(st.sampled_from([0, 1, 2, 20, -1, 1000]))
    after = draw(st.sampled_from(["", f', after: "{encode_cursor("a")}"', ', after: "junk"']))
    return f'productsByCategory(category: "{category}", first: {first}{after})', "ProductConnection"


# Arguments of fields that require some: what a picker sends, the names and values of
# "b" in other cases, options no product has, none, and more than any product has.
SELECTED_OPTIONS = st.sampled_from(
    [
        '[{name: "size", value: "M"}]',
        '[{name: "Size", value: "l.1"}]',
        '[{name: "size", value: "XL"}]',
        '[{name: "size", value: "S"}, {name: "fit", value: "slim"}]',
        "[]",
        "[" + ", ".join(f'{{name: "o{n}", value: "v"}}' for n in range(5)) + "]",
    ]
)
REQUIRED_ARGUMENTS: dict[tuple[str, str], Any] = {
    ("Product", "variantBySelectedOptions"): st.builds(
        "(selectedOptions: {}, ignoreUnknownOptions: {}, caseInsensitiveMatch: {})".format,
        SELECTED_OPTIONS,
        st.sampled_from(["true", "false"]),
        st.sampled_from(["true", "false"]),
    ),
}


@st.composite
def selection(draw: st.DrawFn, type_name: str, depth: int, fragments: dict[str, str]) -> str:
    fields = object_fields(type_name)
    names = draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=4))
    parts = []
    for name in names:
        field = fields[name]
        arguments = ""
        if any(isinstance(a.type, GraphQLNonNull) for a in field.args.values()):
            drawn = REQUIRED_ARGUMENTS.get((type_name, name))
            if drawn is None:
                continue
            arguments = draw(drawn)
        alias = draw(st.sampled_from(["", "", f"{name}_x: "]))
        inner = named(field.type)
        if isinstance(inner, GraphQLObjectType):
            if depth >= 3:
                continue
            sub = draw(selection(inner.name, depth + 1, fragments))
            parts.append(f"{alias}{name}{arguments} {{ {sub} }}")
        else:
            parts.append(f"{alias}{name}{arguments}")
    if draw(st.booleans()):
        parts.append("__typename")
    wrap = draw(st.sampled_from(["plain", "plain", "inline", "named"]))
    body = " ".join(parts) or "__typename"
    if wrap == "inline":
        return f"... on {type_name} {{ {body} }}"
    if wrap == "named":
        name = f"F{len(fragments)}"
        fragments[name] = f"fragment {name} on {type_name} {{ {body} }}"
        return f"...{name} {body}"
    return body


@st.composite
def query(draw: st.DrawFn) -> str:
    fragments: dict[str, str] = {}
    roots = []
    for index in range(draw(st.integers(1, 3))):
        call, type_name = draw(root_field())
        roots.append(f"r{index}: {call} {{ {draw(selection(type_name, 1, fragments))} }}")
    return "{ " + " ".join(roots) + " } " + " ".join(fragments.values())


async def both(
    text: str, variables: dict[str, Any] | None = None, segment: str | None = None
) -> tuple[ExecutionResult, ExecutionResult]:
    document = parse(text)
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    plan = ExecutionPlan(SCHEMA, operation, fragments)
    planned = plan.execute(context(segment), variables, False)
    if not isinstance(planned, ExecutionResult):
        planned = await planned
    core = execute(SCHEMA, document, context_value=context(segment), variable_values=variables)
    if not isinstance(core, ExecutionResult):
        core = await core
    return planned, core


def errors(result: ExecutionResult) -> list[tuple[str, Any, Any]]:
    return sorted(
        (e.message, e.path, [(loc.line, loc.column) for loc in e.locations or ()])
        for e in result.errors or ()
    )


@settings(max_examples=300 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=query(), segment=st.sampled_from([None, "gold"]))
def test_a_plan_answers_as_graphql_core_does(text: str, segment: str | None) -> None:
    assume(not validate(SCHEMA, parse(text), specified_rules))
    planned, core = asyncio.run(both(text, segment=segment))
    assert planned.data == core.data, text
    assert errors(planned) == errors(core), text


VARIABLES = (
    "query($id: ID!, $ids: [ID!]!, $first: Int = 2) { product(id: $id) { id name } "
    'products(ids: $ids) { id } productsByCategory(category: "shoes", first: $first) '
    "{ edges { cursor } } }"
)


@pytest.mark.parametrize(
    "variables",
    [
        {"id": "a", "ids": ["a", "b"]},
        {"id": "a", "ids": ["a"], "first": 1},
        {"id": "a", "ids": "a"},  # Coerced to a list of one.
        {"ids": []},  # $id missing.
        {"id": {"no": 1}, "ids": [None]},
        {"id": "a", "ids": [], "first": 2**40},
        None,
    ],
)
async def test_variables_are_coerced_as_graphql_core_does(variables: dict[str, Any] | None) -> None:
    planned, core = await both(VARIABLES, variables)
    assert planned.data == core.data
    assert errors(planned) == errors(core)


@pytest.mark.parametrize(
    "text",
    [
        'subscription { productChanged(id: "a") { id } }',
        "{ __schema { queryType { name } } }",
        '{ product(id: "a") @include(if: true) { id } }',
        '{ product(id: "a") { id @skip(if: false) } }',
    ],
)
def test_what_a_plan_does_not_cover_is_left_to_graphql_core(text: str) -> None:
    document = parse(text)
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    with pytest.raises(Unplannable):
        ExecutionPlan(SCHEMA, operation, {})


def test_the_policy_plans_queries_once_and_leaves_the_rest() -> None:
    policy = OperationPolicy(SCHEMA, LIMITS, GatewayMetrics())
    query = '{ product(id: "a") { id } }'
    planned = policy.check(query, None, None)
    assert planned.plan is not None
    assert policy.check(query, None, None).plan is planned.plan  # Compiled once.
    assert policy.check('{ product(id: "a") @include(if: true) { id } }', None, None).plan is None
    assert policy.check('subscription { productChanged(id: "a") { id } }', None, None).plan is None
    off = OperationPolicy(SCHEMA, LIMITS, GatewayMetrics(), plans=False)
    assert off.check(query, None, None).plan is None


def test_a_cost_is_kept_per_operation_and_the_values_of_its_size_variables() -> None:
    policy = OperationPolicy(SCHEMA, LIMITS, GatewayMetrics())
    text = (
        "query($id: ID!, $ids: [ID!]!, $first: Int = 3) { product(id: $id) { id } "
        "products(ids: $ids) { id name } "
        'productsByCategory(category: "x", first: $first) { edges { node { id } } } }'
    )

    document = parse(text)
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]

    def cost(**variables: Any) -> int:
        kept = policy.check(text, variables, None).cost
        assert kept == CostEstimator(SCHEMA).estimate(operation, {}, variables)
        return kept

    base = cost(id="a", ids=["a", "b"])
    assert cost(id="zzz", ids=["c", "d"]) == base  # Same sizes: the same cost.
    assert cost(id="a", ids=["a", "b", "c"]) == base + 1
    assert cost(id="a", ids=["a", "b"], first=10) != base
    assert cost(id="zzz", ids=["a", "b"], first=3) != cost(id="a", ids=["a", "b"], first=4)
    # A value orjson cannot key (an integer beyond 64 bits) is estimated, not kept.
    with pytest.raises(OperationRefused, match="estimated cost is 2361183241434822606852"):
        cost(id="a", ids=["a", "b"], first=2**70)


async def test_work_a_resolver_tracks_is_awaited_before_the_result() -> None:
    settled: list[str] = []

    async def later() -> None:
        await asyncio.sleep(0)
        settled.append("tracked")

    def resolve(source: Any, info: Any) -> str:
        info.async_helpers.track([later()])
        return "x"

    schema = GraphQLSchema(
        GraphQLObjectType("Query", {"a": GraphQLField(GraphQLString, resolve=resolve)})
    )
    [operation] = parse("{ a }").definitions
    assert isinstance(operation, OperationDefinitionNode)
    result = ExecutionPlan(schema, operation, {}).execute(None, None, False)
    assert not isinstance(result, ExecutionResult)  # The tracked work is still pending.
    assert (await result).data == {"a": "x"}
    assert settled == ["tracked"]
