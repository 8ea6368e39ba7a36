"""``@inContext``: the market and language an operation asks for, and what applied.

Table tests of the resolution, then through a running gateway: every response says
which context applied, kept answers included, and a context is never served another's
answer.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import GraphQLRequest
from graphql import OperationDefinitionNode, parse

from shopwindow.gateway.execution.localization import Localizer
from shopwindow.markets import Markets, markets_of
from tests import kinds
from tests.gateway.changelog_source import Source
from tests.gateway.conftest import GatewayFactory, Seed, full_product
from tests.gateway.execution.test_persisted_operations import kept_answers
from tests.gateway.live.test_subscriptions import PROTOCOLS, hub_listening, session
from tests.helpers import eventually
from tests.materializer.conftest import catalog, price

MARKETS: dict[str, Any] = {
    "default_market": "eu",
    "markets": [
        {"id": "eu", "countries": ["DE", "FR", "AT"], "currency": "EUR", "default_language": "en"},
        {
            "id": "ch",
            "countries": ["CH"],
            "currency": "CHF",
            "default_language": "de",
            "languages": ["de", "fr", "it"],
            "fallback": "eu",
        },
    ],
}


def operation(text: str) -> OperationDefinitionNode:
    [definition] = parse(text).definitions
    assert isinstance(definition, OperationDefinitionNode)
    return definition


CASES: list[tuple[str, str, dict[str, Any] | None, dict[str, Any]]] = [
    (
        "no directive: the default market in its language",
        "{ a }",
        None,
        {"country": None, "language": "EN", "market": "eu", "currency": "EUR"},
    ),
    (
        "a country picks its market and that market's language",
        "query @inContext(country: CH) { a }",
        None,
        {"country": "CH", "language": "DE", "market": "ch", "currency": "CHF"},
    ),
    (
        "a language the market serves",
        "query @inContext(country: CH, language: FR) { a }",
        None,
        {"country": "CH", "language": "FR", "market": "ch", "currency": "CHF"},
    ),
    (
        "a language it does not serve falls back, and says so",
        "query @inContext(country: CH, language: JA) { a }",
        None,
        {
            "country": "CH",
            "language": "DE",
            "market": "ch",
            "currency": "CHF",
            "requestedLanguage": "JA",
        },
    ),
    (
        "a market without a language list serves any",
        "query @inContext(country: DE, language: JA) { a }",
        None,
        {"country": "DE", "language": "JA", "market": "eu", "currency": "EUR"},
    ),
    (
        "a country no market lists is the default market",
        "query @inContext(country: US) { a }",
        None,
        {"country": "US", "language": "EN", "market": "eu", "currency": "EUR"},
    ),
    (
        "variables",
        "query ($c: CountryCode, $l: LanguageCode) @inContext(country: $c, language: $l) { a }",
        {"c": "CH", "l": "IT"},
        {"country": "CH", "language": "IT", "market": "ch", "currency": "CHF"},
    ),
    (
        "a regional language",
        "query @inContext(language: PT_BR) { a }",
        None,
        {"country": None, "language": "PT_BR", "market": "eu", "currency": "EUR"},
    ),
    *(
        (
            f"a variable holding {bad!r} counts as absent (coercion refuses it)",
            "query ($c: CountryCode) @inContext(country: $c) { a }",
            {"c": bad},
            {"country": None, "language": "EN", "market": "eu", "currency": "EUR"},
        )
        for bad in ("ch", "XX", 1, None, ["CH"], {"CH": 1}, "\ud800", "C" * 10_000)
    ),
    (
        "variables missing altogether",
        "query ($c: CountryCode) @inContext(country: $c) { a }",
        None,
        {"country": None, "language": "EN", "market": "eu", "currency": "EUR"},
    ),
]


@pytest.mark.parametrize(
    ("text", "variables", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_the_context_applied(
    text: str, variables: dict[str, Any] | None, expected: dict[str, Any]
) -> None:
    markets: Markets = markets_of(MARKETS)
    assert Localizer(markets)(operation(text), variables).as_extension() == expected


def test_one_localizer_answers_every_case_as_a_fresh_one_does() -> None:
    # A policy keeps one Localizer for all its operations: what it kept for one
    # request's context must never answer another's.
    shared = Localizer(markets_of(MARKETS))
    for _, text, variables, expected in [*CASES, *reversed(CASES)]:
        assert shared(operation(text), variables).as_extension() == expected, text


def test_without_a_markets_file_the_context_is_the_one_market() -> None:
    from shopwindow.markets import single_market

    applied = Localizer(single_market())(operation("query @inContext(country: CH) { a }"), None)
    assert applied.as_extension() == {
        "country": "CH",
        "language": "EN",
        "market": "default",
        "currency": None,
    }


QUERY = '{ product(id: "abc") { id name price { amount currency } } }'


def in_context(country: str, language: str | None = None) -> str:
    arguments = f"country: {country}" + (f", language: {language}" if language else "")
    return f"query Page @inContext({arguments}) {QUERY}"


@pytest.fixture
def markets_file(tmp_path: Path) -> Path:
    path = tmp_path / "markets.json"
    path.write_text(json.dumps(MARKETS))
    return path


async def post(http: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await http.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_every_answer_says_its_context_and_kept_answers_keep_theirs(
    source: Source, gateway: GatewayFactory, markets_file: Path
) -> None:
    await source.apply("abc", *full_product("abc"))
    variable_query = "query Page($c: CountryCode) @inContext(country: $c) " + QUERY
    async with gateway(markets_file=markets_file) as http:

        async def one_round() -> tuple[list[dict[str, Any]], float]:
            before = await kept_answers(http)
            bodies = [
                await post(http, in_context("DE", "DE")),
                await post(http, in_context("CH")),
                await post(http, QUERY),
                await post(http, variable_query, c="CH"),
                await post(http, variable_query, c="DE"),
            ]
            return bodies, await kept_answers(http) - before

        # Until every answer of a round is a kept one: each context was kept apart.
        bodies, _ = await eventually(one_round, lambda answer: answer[1] == 5)
    contexts = [body["extensions"]["context"] for body in bodies]
    assert contexts[0] == {"country": "DE", "language": "DE", "market": "eu", "currency": "EUR"}
    assert [c["market"] for c in contexts] == ["eu", "ch", "eu", "ch", "eu"]
    assert [c["language"] for c in contexts] == ["DE", "DE", "EN", "DE", "EN"]
    assert [c["country"] for c in contexts] == ["DE", "CH", None, "CH", "DE"]
    assert all(body["data"] == bodies[0]["data"] for body in bodies)  # one price, for now


MISPLACED_OR_MALFORMED = [
    (
        'query @inContext(country: CH) @inContext(country: DE) { product(id: "a") { id } }',
        "The directive '@inContext' can only be used once at this location.",
    ),
    (
        'query { ...F } fragment F on Query @inContext(country: CH) { product(id: "a") { id } }',
        "Directive '@inContext' may not be used on fragment definition.",
    ),
    (
        'query { product(id: "a") @inContext(country: CH) { id } }',
        "Directive '@inContext' may not be used on field.",
    ),
    (
        'query { ... @inContext(country: CH) { product(id: "a") { id } } }',
        "Directive '@inContext' may not be used on inline fragment.",
    ),
    ('query @inContext(country: ch) { product(id: "a") { id } }', "CountryCode"),
    ('query @inContext(country: "CH") { product(id: "a") { id } }', "CountryCode"),
    ('query @inContext(language: XX) { product(id: "a") { id } }', "LanguageCode"),
    ('query @inContext(market: "ch") { product(id: "a") { id } }', "market"),
]


async def test_a_misplaced_or_malformed_directive_is_refused(
    gateway: GatewayFactory, markets_file: Path
) -> None:
    # One gateway for the whole table: starting one per case cost seconds of make test.
    async with gateway(markets_file=markets_file) as http:
        for query, message in MISPLACED_OR_MALFORMED:
            response = await http.post(
                "/graphql",
                json={"query": query},
                headers={"accept": "application/graphql-response+json"},
            )
            assert response.status_code == 400, query
            [error] = response.json()["errors"]
            assert message in error["message"], query
            assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


_VARIABLE_QUERY = json.dumps(
    'query ($c: CountryCode) @inContext(country: $c) { product(id: "a") { id } }'
).encode()


WRONG_VARIABLES = [
    # Lone surrogates, as JSON can spell them and no UTF-8 encoder would send them.
    (b'{"c": "\\ud800\\ud800"}', "Body is not valid JSON."),
    (b'{"c": "ch"}', "$c"),
    (b'{"c": 1e400}', "Body is not valid JSON."),
    (b'{"c": ["CH"]}', "$c"),
    (b'{"c": "' + b"C" * 10_000 + b'"}', "$c"),
]


async def test_a_variable_of_the_wrong_value_is_a_clean_error(
    gateway: GatewayFactory, markets_file: Path
) -> None:
    async with gateway(markets_file=markets_file) as http:
        for variables, message in WRONG_VARIABLES:
            body = b'{"query": %s, "variables": %s}' % (_VARIABLE_QUERY, variables)
            response = await http.post(
                "/graphql", content=body, headers={"content-type": "application/json"}
            )
            assert response.status_code in (200, 400)
            [error] = response.json()["errors"]
            assert message in error["message"], variables[:40]
            assert "Traceback" not in response.text
            # graphql-core quotes the value it refused: bounded by the body limit.
            assert len(response.content) < 2 * len(body) + 2000


LIVE = (
    "subscription Price($c: CountryCode) @inContext(country: $c) "
    '{ priceChanged(productId: "abc") { version price { amount } } }'
)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_each_live_group_keeps_its_context(
    source: Source, gateway: GatewayFactory, markets_file: Path, protocol: str
) -> None:
    await source.apply("abc", *full_product("abc"))
    async with gateway(markets_file=markets_file) as http:
        await hub_listening(http)
        async with session(http, protocol) as swiss, session(http, protocol) as german:
            swiss_updates = swiss.subscribe(
                GraphQLRequest(LIVE, variable_values={"c": "CH"}), get_execution_result=True
            )
            german_updates = german.subscribe(
                GraphQLRequest(LIVE, variable_values={"c": "DE"}), get_execution_result=True
            )
            firsts = [await anext(swiss_updates), await anext(german_updates)]
            await source.apply("abc", (kinds.PRICES, price("abc", "16.99", minutes=1)))
            seconds = [
                await asyncio.wait_for(anext(swiss_updates), 10),
                await asyncio.wait_for(anext(german_updates), 10),
            ]
    for swiss_result, german_result in (firsts, seconds):
        assert swiss_result.extensions["context"]["market"] == "ch"
        assert german_result.extensions["context"]["market"] == "eu"
        assert swiss_result.data == german_result.data  # one price, for now
    assert seconds[0].data["priceChanged"]["price"] == {"amount": "16.99"}


TRANSLATED = catalog(
    "abc",
    description="Light and quick.",
    translations={
        "de": {"name": "Laufschuh", "description": "Leicht und schnell."},
        "fr": {"name": "Chaussure de trail"},  # no description: falls back field by field
        "pt": {"name": "Tênis de trilha"},
    },
)


IN_LANGUAGES = [
    ("", "Trail shoe", "Light and quick."),
    ("@inContext(language: DE)", "Laufschuh", "Leicht und schnell."),
    ("@inContext(country: CH)", "Laufschuh", "Leicht und schnell."),  # ch speaks de
    ("@inContext(country: CH, language: FR)", "Chaussure de trail", "Leicht und schnell."),
    ("@inContext(country: DE, language: FR)", "Chaussure de trail", "Light and quick."),
    ("@inContext(language: PT_BR)", "Tênis de trilha", "Light and quick."),
    ("@inContext(country: CH, language: JA)", "Laufschuh", "Leicht und schnell."),
    ("@inContext(language: JA)", "Trail shoe", "Light and quick."),
]


async def test_content_in_the_language_of_the_context_field_by_field(
    seed: Seed, gateway: GatewayFactory, markets_file: Path
) -> None:
    await seed("abc", (kinds.CATALOG, TRANSLATED))
    async with gateway(markets_file=markets_file) as http:
        for directive, name, description in IN_LANGUAGES:
            query = f'query {directive} {{ product(id: "abc") {{ name description }} }}'
            body = await post(http, query)
            assert body["data"]["product"] == {"name": name, "description": description}, directive


SHIRT = catalog(
    "abc",
    options=[{"name": "size", "values": ["S", "M"]}, {"name": "color", "values": ["black"]}],
    variants=[
        {"sku": "S-BLACK", "options": {"size": "S", "color": "black"}},
        {"sku": "M-BLACK", "options": {"size": "M", "color": "black"}},
    ],
    translations={
        "de": {
            "options": {"size": "Größe", "color": "Farbe"},
            "option_values": {"color": {"black": "schwarz"}},  # sizes stay as they are
        }
    },
)
OPTIONS = (
    "query ($l: LanguageCode, $picked: [SelectedOptionInput!]!) @inContext(language: $l) "
    '{ product(id: "abc") { options { name values } '
    "variantBySelectedOptions(selectedOptions: $picked) { sku selectedOptions { name value } } } }"
)


PICKS: list[tuple[str, list[tuple[str, str]], str | None]] = [
    ("DE", [("Größe", "M"), ("Farbe", "schwarz")], "M-BLACK"),
    ("DE", [("size", "M"), ("color", "black")], "M-BLACK"),  # the catalog's own too
    ("DE", [("Größe", "M"), ("Farbe", "weiß")], None),
    ("EN", [("size", "S"), ("color", "black")], "S-BLACK"),
    ("EN", [("Größe", "S"), ("Farbe", "schwarz")], None),  # not this page's words
]


async def test_options_and_values_in_the_language_of_the_context(
    seed: Seed, gateway: GatewayFactory, markets_file: Path
) -> None:
    await seed("abc", (kinds.CATALOG, SHIRT))
    async with gateway(markets_file=markets_file) as http:
        for language, picked, sku in PICKS:
            body = await post(
                http,
                OPTIONS,
                l=language,
                picked=[{"name": name, "value": value} for name, value in picked],
            )
            product = body["data"]["product"]
            german = language == "DE"
            assert product["options"] == [
                {"name": "Größe" if german else "size", "values": ["S", "M"]},
                {
                    "name": "Farbe" if german else "color",
                    "values": ["schwarz" if german else "black"],
                },
            ]
            found = product["variantBySelectedOptions"]
            assert (found or {}).get("sku") == sku, (language, picked)
            if found is not None:
                assert found["selectedOptions"][1] == (
                    {"name": "Farbe", "value": "schwarz"}
                    if german
                    else {"name": "color", "value": "black"}
                )
