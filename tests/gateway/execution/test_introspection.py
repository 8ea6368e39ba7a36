"""Introspection: every form the tools send is answered on every transport that carries
queries; hostile forms are refused by the rules written for introspection; and a
gateway whose own limits would refuse its introspection does not start."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    OperationDefinitionNode,
    get_introspection_query,
    parse,
    print_ast,
)

from shopwindow.gateway.app import create_app
from shopwindow.gateway.execution.limits import MAX_TYPE_WRAPPING
from shopwindow.gateway.execution.policy import FULL_INTROSPECTION
from shopwindow.settings import ConfigurationError, GatewaySettings
from tests.gateway.conftest import GatewayFactory
from tests.gateway.execution.test_policy import QUERY_TRANSPORTS, code
from tests.gateway.transports import Transport

SUITES = Path(__file__).resolve().parents[2] / "conformance"

# graphql-js's own builder, as GraphiQL, GraphQL Code Generator and the API clients
# call it: plain, and with every option.
_GRAPHQL_JS_FORMS = """
import { getIntrospectionQuery } from "graphql";
process.stdout.write(JSON.stringify([
  getIntrospectionQuery(),
  getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true,
    schemaDescription: true, inputValueDeprecation: true, oneOf: true }),
]));
"""


def _node() -> str:
    node = shutil.which("node")
    assert node, "Node.js is needed for the introspection tools"
    assert (SUITES / "node_modules" / "get-graphql-schema").is_dir(), (
        "run `make test` (it installs tests/conformance)"
    )
    return node


async def _run_node(*args: str, cwd: Path = SUITES) -> str:
    process = await asyncio.create_subprocess_exec(
        _node(),
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode(errors="replace")
    return out.decode()


@pytest.fixture(scope="module")
async def forms() -> dict[str, str]:
    """Every introspection query a tool sends, by who sends it."""
    plain_js, full_js = json.loads(await _run_node("--input-type=module", "-e", _GRAPHQL_JS_FORMS))
    # get-graphql-schema ships graphql 14, whose query predates the options.
    legacy = await _run_node(
        "-e",
        "process.stdout.write(require('get-graphql-schema/node_modules/graphql')"
        ".getIntrospectionQuery())",
    )
    return {
        "graphql-core": get_introspection_query(),
        "graphql-core, every option": FULL_INTROSPECTION,
        "graphql-js 16": plain_js,
        "graphql-js 16, every option": full_js,
        "graphql-js 14": legacy,
    }


def endpoint(http: httpx.AsyncClient) -> str:
    return str(http.base_url.copy_with(path="/graphql"))


def nested_of_type(depth: int) -> str:
    return '{ __type(name: "Product") { ' + "ofType { " * depth + "name" + " }" * depth + " } }"


@pytest.mark.parametrize("transport", QUERY_TRANSPORTS, ids=lambda t: t.name)
async def test_every_tools_introspection_is_answered(
    gateway: GatewayFactory, transport: Transport, forms: dict[str, str]
) -> None:
    async with gateway() as http:
        for sender, query in forms.items():
            body = await transport.run(http, query)
            assert "errors" not in body, (sender, body.get("errors"))
            schema = body["data"]["__schema"]
            assert schema["queryType"]["name"] == "Query", sender
            assert "Product" in {t["name"] for t in schema["types"]}, sender


HOSTILE: list[tuple[str, str, str]] = [
    (
        "lists nested past graphql-js's limit",
        "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }",
        "GRAPHQL_VALIDATION_FAILED",
    ),
    (
        "the same through a fragment",
        '{ __type(name: "Product") { ...T } } '
        "fragment T on __Type { fields { type { interfaces { fields { type { "
        "possibleTypes { name } } } } } } }",
        "GRAPHQL_VALIDATION_FAILED",
    ),
    ("ofType past any tool's", nested_of_type(MAX_TYPE_WRAPPING + 1), "QUERY_TOO_DEEP"),
    (
        "ofType past any tool's, split over fragments",
        '{ __type(name: "Product") { ...A } } '
        "fragment A on __Type { " + "ofType { " * 9 + "...B" + " }" * 9 + " } "
        "fragment B on __Type { " + "ofType { " * 9 + "name" + " }" * 9 + " }",
        "QUERY_TOO_DEEP",
    ),
    (
        "the whole schema again and again under aliases",
        "{ "
        + " ".join(
            f"s{n}: __schema {{ types {{ name fields {{ name args {{ name }} }} }} }}"
            for n in range(20)
        )
        + " }",
        "QUERY_TOO_COSTLY",
    ),
]


@pytest.mark.parametrize("transport", QUERY_TRANSPORTS, ids=lambda t: t.name)
async def test_hostile_introspection_is_refused(
    gateway: GatewayFactory, transport: Transport
) -> None:
    async with gateway() as http:
        for name, document, expected in HOSTILE:
            body = await transport.run(http, document)
            assert code(body) == expected, (name, body)
            assert "data" not in body or body["data"] is None, name
        # The bound itself is answered: a tool may send that many.
        body = await transport.run(http, nested_of_type(MAX_TYPE_WRAPPING))
        assert "errors" not in body


def aliased_introspections(copies: int) -> str:
    """The full introspection query with its ``__schema`` field asked ``copies`` times."""
    operation, *fragments = parse(FULL_INTROSPECTION).definitions
    assert isinstance(operation, OperationDefinitionNode)
    (schema_field,) = operation.selection_set.selections
    asked = " ".join(f"s{n}: {print_ast(schema_field)}" for n in range(copies))
    return f"query {{ {asked} }}\n" + "\n".join(print_ast(f) for f in fragments)


async def test_the_full_introspection_four_times_over_is_too_costly(
    gateway: GatewayFactory,
) -> None:
    """As docs/graphql-api.md says: at the default cost limit, three copies under
    aliases are answered and four are refused."""
    async with gateway() as http:
        three = await http.post("/graphql", json={"query": aliased_introspections(3)})
        four = await http.post("/graphql", json={"query": aliased_introspections(4)})
    assert "errors" not in three.json()
    assert code(four.json()) == "QUERY_TOO_COSTLY"


async def test_data_beside_introspection_keeps_its_depth_limit(gateway: GatewayFactory) -> None:
    async with gateway(max_query_depth=2) as http:
        response = await http.post(
            "/graphql",
            json={"query": '{ __schema { types { name } } product(id: "x") { price { amount } } }'},
        )
        assert code(response.json()) == "QUERY_TOO_DEEP"
        response = await http.post(
            "/graphql", json={"query": '{ __schema { types { name } } product(id: "x") { id } }'}
        )
        assert "errors" not in response.json()


async def test_introspection_is_priced_by_what_it_returns(gateway: GatewayFactory) -> None:
    """Its estimate comes from this schema's own sizes: close to what it returns, not
    the default list size at every level."""
    async with gateway() as http:
        response = await http.post("/graphql", json={"query": FULL_INTROSPECTION})
    cost: dict[str, Any] = response.json()["extensions"]["cost"]
    assert cost["actualQueryCost"] > 0
    assert cost["actualQueryCost"] <= cost["requestedQueryCost"] <= 2 * cost["actualQueryCost"]


@pytest.mark.parametrize(
    "overrides",
    [{"max_query_cost": 100}, {"max_tokens": 100}],
    ids=["cost", "tokens"],
)
def test_a_gateway_whose_limits_refuse_its_introspection_does_not_start(
    gateway_settings: Callable[..., GatewaySettings], overrides: dict[str, int]
) -> None:
    with pytest.raises(ConfigurationError, match="SHOPWINDOW_INTROSPECTION is on") as raised:
        create_app(gateway_settings(**overrides))
    assert "SHOPWINDOW_MAX_QUERY_COST" in str(raised.value)
    create_app(gateway_settings(introspection=False, **overrides))


async def test_get_graphql_schema_reads_the_schema(gateway: GatewayFactory) -> None:
    async with gateway() as http:
        # It prints its failures and still exits 0: the SDL is the verdict.
        sdl = await _run_node("node_modules/get-graphql-schema/dist/index.js", endpoint(http))
    assert "type Product" in sdl
    assert "type Query" in sdl


async def test_graphql_code_generator_reads_the_schema(
    gateway: GatewayFactory, tmp_path: Path
) -> None:
    out = tmp_path / "schema.graphql"
    async with gateway() as http:
        config = {
            "schema": endpoint(http),
            "generates": {str(out): {"plugins": ["schema-ast"]}},
        }
        (tmp_path / "codegen.json").write_text(json.dumps(config))
        await _run_node(
            "node_modules/@graphql-codegen/cli/esm/bin.js",
            "--config",
            str(tmp_path / "codegen.json"),
        )
    sdl = out.read_text()
    assert "type Product" in sdl
    assert "type Query" in sdl
