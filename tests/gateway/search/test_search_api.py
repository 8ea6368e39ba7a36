"""Search through a running gateway: the changelog in, GraphQL out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from shopwindow.materializer.fold import FoldSettings
from shopwindow.topics import TopicNames
from tests import kinds
from tests.gateway.changelog_source import Source
from tests.gateway.conftest import GatewayFactory, sample
from tests.gateway.execution.test_auth import SECRET, token
from tests.gateway.schema.test_market_prices import WITH_US
from tests.gateway.transports import TRANSPORT_WS, WebSocket
from tests.helpers import eventually
from tests.materializer.conftest import catalog, click, order, price, stock_take

ACCEPT = {"accept": "application/graphql-response+json"}

SEARCH = """
query Search($q: String, $filter: ProductFilter, $sort: SearchSort! = RELEVANCE,
             $first: Int! = 20, $after: String) {
  search(query: $q, filter: $filter, sort: $sort, first: $first, after: $after) {
    totalCount
    edges { cursor node { id name brand price { amount } stock { available } } }
    pageInfo { hasNextPage endCursor }
    facets {
      brands { value count }
      categories { value count }
      priceRanges { min max count }
      inStock { value count }
    }
  }
}
"""


async def graphql(
    http: httpx.AsyncClient, query: str, headers: dict[str, str] | None = None, **variables: Any
) -> httpx.Response:
    return await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={**ACCEPT, **(headers or {})},
    )


async def search(
    http: httpx.AsyncClient, headers: dict[str, str] | None = None, **variables: Any
) -> Any:
    response = await graphql(http, SEARCH, headers, **variables)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["search"]


def ids(result: Any) -> list[str]:
    return [edge["node"]["id"] for edge in result["edges"]]


async def until_found(http: httpx.AsyncClient, count: int, **variables: Any) -> Any:
    return await eventually(lambda: search(http, **variables), lambda r: r["totalCount"] == count)


async def stock_product(
    source: Source,
    product_id: str,
    name: str,
    brand: str,
    amount: str,
    quantity: int = 3,
    **price_fields: Any,
) -> None:
    await source.apply(
        product_id,
        (kinds.CATALOG, catalog(product_id, name=name, brand=brand, category="shoes")),
        (kinds.PRICES, price(product_id, amount, **price_fields)),
        (kinds.INVENTORY, stock_take(quantity, product_id)),
    )


async def test_a_product_on_the_changelog_becomes_searchable(
    gateway: GatewayFactory, source: Source
) -> None:
    # Announced before the gateway starts: the index is built from the changelog's start.
    await stock_product(source, "p1", "Trail Running Shoe", "Acme", "80.00")
    async with gateway() as http:
        await eventually(lambda: http.get("/readyz"), lambda r: r.status_code == 200)
        found = await until_found(http, 1, q="runing shoe")  # a typo, and a prefix
        assert found["edges"][0]["node"] == {
            "id": "p1",
            "name": "Trail Running Shoe",
            "brand": "Acme",
            "price": {"amount": "80.00"},
            "stock": {"available": 3},
        }
        # Announced while it runs: searchable after the next commit.
        await stock_product(source, "p2", "Road Running Shoe", "Bolt", "60.00", quantity=0)
        found = await until_found(http, 2, q="running")
        assert found["facets"]["brands"] == [
            {"value": "Acme", "count": 1},
            {"value": "Bolt", "count": 1},
        ]
        assert found["facets"]["inStock"] == [
            {"value": True, "count": 1},
            {"value": False, "count": 1},
        ]
        assert await sample(http, "shopwindow_search_documents") == 2
        assert await sample(http, "shopwindow_search_index_delay_seconds_count") >= 1


async def test_facets_stay_disjunctive_through_graphql(
    gateway: GatewayFactory, source: Source
) -> None:
    for n, brand in enumerate(["Acme", "Acme", "Bolt", "Cozy"]):
        await stock_product(source, f"p{n}", f"Shoe {n}", brand, "50.00")
    async with gateway() as http:
        await until_found(http, 4)
        found = await search(http, filter={"brands": ["Acme"]})
    assert sorted(ids(found)) == ["p0", "p1"]
    assert found["facets"]["brands"] == [
        {"value": "Acme", "count": 2},
        {"value": "Bolt", "count": 1},
        {"value": "Cozy", "count": 1},
    ]
    assert found["facets"]["categories"] == [{"value": "shoes", "count": 2}]


async def test_the_viewer_segment_price_filters_and_sorts(
    gateway: GatewayFactory, source: Source
) -> None:
    await stock_product(source, "a", "Shoe A", "Acme", "50.00", segment_amounts={"gold": "10.00"})
    await stock_product(source, "b", "Shoe B", "Acme", "30.00")
    await stock_product(source, "c", "Shoe C", "Acme", "40.00")
    gold = {"authorization": f"Bearer {token(segment='gold')}"}
    async with gateway(jwt_hs256_secret=SECRET) as http:
        await until_found(http, 3)
        anonymous = await search(http, sort="PRICE_ASC")
        golden = await search(http, gold, sort="PRICE_ASC")
        cheap = await search(http, gold, filter={"priceMax": "20"})
        anonymous_cheap = await search(http, filter={"priceMax": "20"})
    assert ids(anonymous) == ["b", "c", "a"]
    assert ids(golden) == ["a", "b", "c"]
    assert [e["node"]["price"]["amount"] for e in golden["edges"]] == ["10.00", "30.00", "40.00"]
    assert ids(cheap) == ["a"]
    assert anonymous_cheap["totalCount"] == 0


async def test_paging_with_cursors(gateway: GatewayFactory, source: Source) -> None:
    for n in range(5):
        await stock_product(source, f"p{n}", f"Shoe {n}", "Acme", f"{10 + n}.00")
    async with gateway() as http:
        await until_found(http, 5)
        seen: list[str] = []
        after = None
        while True:
            page = await search(http, sort="PRICE_DESC", first=2, after=after)
            seen += ids(page)
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
    assert seen == ["p4", "p3", "p2", "p1", "p0"]


async def test_hidden_and_deleted_products_leave_the_index(
    gateway: GatewayFactory, source: Source, topics: TopicNames
) -> None:
    await stock_product(source, "hide-me", "Kettle", "Acme", "20.00")
    await stock_product(source, "delete-me", "Kettle", "Bolt", "20.00")
    await stock_product(source, "keep-me", "Kettle", "Cozy", "20.00")
    async with gateway() as http:
        await until_found(http, 3, q="kettle")
        await source.apply("hide-me", (kinds.CATALOG, None))  # catalog tombstone: hidden
        await source._producer.send_and_wait(topics.changelog, None, key=b"delete-me")
        found = await until_found(http, 1, q="kettle")
    assert ids(found) == ["keep-me"]


async def test_trending_and_bestselling(gateway: GatewayFactory, source: Source) -> None:
    for product_id in ("calm", "hot", "sold"):
        await stock_product(source, product_id, f"Mug {product_id}", "Acme", "9.00")
    await source.apply("hot", *[(kinds.CLICKS, click("hot", minutes=m)) for m in range(5)])
    await source.apply("sold", (kinds.ORDERS, order("o1", "sold", minutes=-600)))
    async with gateway() as http:
        await until_found(http, 3)
        await eventually(
            lambda: search(http, sort="TRENDING"), lambda r: ids(r)[:2] == ["hot", "sold"]
        )
        best = await search(http, sort="BESTSELLING")
        response = await graphql(http, "{ trending(first: 5) { id popularity { trendingScore } } }")
    assert ids(best)[0] == "sold"
    trending = response.json()["data"]["trending"]
    assert [p["id"] for p in trending] == ["hot", "sold"]
    assert trending[0]["popularity"]["trendingScore"] > trending[1]["popularity"]["trendingScore"]


async def test_suggestions(gateway: GatewayFactory, source: Source) -> None:
    await stock_product(source, "k", "Kettle Deluxe", "Acme", "20.00")
    await stock_product(source, "t", "Teapot", "Kettleworks", "20.00")
    async with gateway() as http:
        await until_found(http, 2)
        response = await graphql(http, '{ searchSuggestions(prefix: "kett") { id } }')
    assert {p["id"] for p in response.json()["data"]["searchSuggestions"]} == {"k", "t"}


BAD_INPUTS = [
    ({"q": 'name:x AND (OR) *:* "unclosed [1 TO} \\'}, None),
    ({"q": ""}, None),
    ({"q": "x" * 10_240}, "BAD_USER_INPUT"),
    ({"filter": {"attributes": [{"name": "no-such", "values": ["x"]}]}}, None),
    ({"filter": {"priceMin": "50", "priceMax": "10"}}, "BAD_USER_INPUT"),
    ({"filter": {"priceMin": "NaN"}}, "BAD_USER_INPUT"),
    ({"filter": {"priceMax": "1e999999"}}, None),
    ({"after": "not-a-cursor"}, "BAD_USER_INPUT"),
    ({"first": -1}, "BAD_USER_INPUT"),
    ({"first": 2**31 - 1}, "QUERY_TOO_COSTLY"),
    ({"filter": {"options": [{"name": "size", "values": ["M"]}] * 2}}, "BAD_USER_INPUT"),
    ({"filter": {"options": [{"name": "size", "values": []}]}}, "BAD_USER_INPUT"),
    ({"filter": {"options": [{"name": ".*", "values": ["[", "\\x{1F}"]}]}}, None),
    (
        {
            "filter": {
                "options": [
                    {"name": name, "values": [str(n) for n in range(100)]}
                    for name in ("size", "color")
                ]
            }
        },
        "BAD_USER_INPUT",
    ),
]


@pytest.mark.parametrize(("variables", "code"), BAD_INPUTS)
async def test_bad_input_gets_a_clean_answer(
    gateway: GatewayFactory, source: Source, variables: dict[str, Any], code: str | None
) -> None:
    await stock_product(source, "p1", "Shoe", "Acme", "20.00")
    async with gateway(max_query_cost=10**6) as http:
        await until_found(http, 1)
        response = await graphql(http, SEARCH, **variables)
        # The same operation over the WebSocket protocol that runs queries: one policy.
        over_ws = await WebSocket(TRANSPORT_WS).run(http, SEARCH, variables)
    body = response.json()
    assert response.status_code < 500
    for answer in (body, over_ws):
        if code is None:
            assert "errors" not in answer, answer
        else:
            assert answer["errors"][0]["extensions"]["code"] == code, answer
            assert "Traceback" not in json.dumps(answer)


async def test_an_option_filter_of_lone_surrogates_gets_a_clean_answer(
    gateway: GatewayFactory,
) -> None:
    # JSON escapes that decode to lone surrogates: no encoder of ours would send them.
    variables = '{"filter": {"options": [{"name": "\\ud800", "values": ["\\udfff"]}]}}'
    body = f'{{"query": {json.dumps(SEARCH)}, "variables": {variables}}}'
    async with gateway() as http:
        response = await http.post(
            "/graphql", content=body, headers={**ACCEPT, "content-type": "application/json"}
        )
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text


OPTIONS_SEARCH = """
query Options($filter: ProductFilter, $sort: SearchSort! = RELEVANCE) {
  search(filter: $filter, sort: $sort) {
    totalCount
    edges { node { id price { amount } } }
    facets { options { name values { value count } } inStock { value count } }
  }
}
"""


async def test_options_filter_and_facets_hold_per_variant(
    gateway: GatewayFactory, source: Source
) -> None:
    options = [
        {"name": "size", "values": ["M", "L"]},
        {"name": "color", "values": ["red", "blue"]},
    ]

    async def shirt_with(product_id: str, in_stock: dict[str, int]) -> None:
        variants = [
            {"sku": f"{product_id}-{size}-{color}", "options": {"size": size, "color": color}}
            for size, color in (("M", "red"), ("L", "blue"), ("M", "blue"))
        ]
        listing = catalog(product_id, name=f"Shirt {product_id}", category="shirts")
        await source.apply(
            product_id,
            (kinds.CATALOG, {**listing, "options": options, "variants": variants}),
            (kinds.PRICES, price(product_id, "20.00")),
            *(
                (kinds.INVENTORY, {**stock_take(n, product_id), "sku": f"{product_id}-{key}"})
                for key, n in in_stock.items()
            ),
        )

    # "a" has a red M and a blue L in stock, but its blue M is sold out.
    await shirt_with("a", {"M-red": 2, "L-blue": 2, "M-blue": 0})
    await shirt_with("b", {"M-red": 0, "L-blue": 0, "M-blue": 1})
    blue_m = {"options": [{"name": "size", "values": ["M"]}, {"name": "color", "values": ["blue"]}]}
    async with gateway() as http:
        await until_found(http, 2)
        response = await graphql(http, OPTIONS_SEARCH, filter={**blue_m, "inStock": True})
    found = response.json()["data"]["search"]
    assert [edge["node"]["id"] for edge in found["edges"]] == ["b"]
    assert found["facets"]["options"] == [
        {"name": "color", "values": [{"value": "blue", "count": 1}, {"value": "red", "count": 1}]},
        {"name": "size", "values": [{"value": "L", "count": 1}, {"value": "M", "count": 1}]},
    ]
    assert found["facets"]["inStock"] == [
        {"value": True, "count": 1},
        {"value": False, "count": 1},
    ]


async def test_search_counts_toward_the_cost_limit(gateway: GatewayFactory) -> None:
    async with gateway(max_query_cost=500, introspection=False) as http:
        response = await graphql(http, SEARCH, first=100)
    assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


async def test_a_replica_without_search_says_so(gateway: GatewayFactory) -> None:
    async with gateway(search_enabled=False) as http:
        # Ready once its changelog reader is connected: no index to wait for.
        ready = await eventually(lambda: http.get("/readyz"), lambda r: r.status_code == 200)
        response = await graphql(http, "{ search { totalCount } }")
    assert ready.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == "SEARCH_UNAVAILABLE"


SWISS_SEARCH = """
query Swiss($max: Decimal) @inContext(country: CH) {
  search(filter: {priceMax: $max}, sort: PRICE_ASC) {
    edges { node { id price { amount currency } } }
    facets { priceRanges { min max count } }
  }
}
"""


async def test_a_swiss_shopper_searches_by_swiss_prices(
    source: Source, gateway: GatewayFactory, tmp_path: Path
) -> None:
    markets_file = tmp_path / "markets.json"
    markets_file.write_text(json.dumps(WITH_US))
    source.fold_settings = FoldSettings(markets=frozenset({"eu", "ch", "us"}), default_market="eu")
    await stock_product(source, "cheap-eu", "Shoe", "Acme", "10.00")
    await stock_product(source, "dear-eu", "Shoe", "Acme", "90.00")
    await source.apply(
        "dear-eu", (kinds.PRICES, {**price("dear-eu", "20.00", currency="CHF"), "market": "ch"})
    )
    await stock_product(source, "us-only", "Shoe", "Acme", "50.00", market="us", currency="USD")
    async with gateway(search_enabled=True, markets_file=markets_file) as http:
        await until_found(http, 3)
        swiss = await graphql(http, SWISS_SEARCH)
        capped = await graphql(http, SWISS_SEARCH, max="15")
        german = await graphql(http, SWISS_SEARCH.replace("CH", "DE"), max="15")
    found = swiss.json()["data"]["search"]
    # ch falls back to eu: cheap-eu at 10 EUR, dear-eu at its own 20 CHF; us-only has
    # no price in ch or eu, so it sorts last.
    assert [e["node"]["id"] for e in found["edges"]] == ["cheap-eu", "dear-eu", "us-only"]
    assert found["edges"][1]["node"]["price"] == {"amount": "20.00", "currency": "CHF"}
    assert [e["node"]["id"] for e in capped.json()["data"]["search"]["edges"]] == ["cheap-eu"]
    # A German shopper is never searched by the Swiss price: dear-eu is 90 EUR there.
    assert [e["node"]["id"] for e in german.json()["data"]["search"]["edges"]] == ["cheap-eu"]
    ranges = found["facets"]["priceRanges"]
    assert sum(r["count"] for r in ranges) == 2


IN_GERMAN = """
query Words($q: String) @inContext(country: CH, language: DE) {
  search(query: $q) { edges { node { id name } } }
}
"""


async def test_a_shopper_searches_in_their_language(
    source: Source, gateway: GatewayFactory, tmp_path: Path
) -> None:
    markets_file = tmp_path / "markets.json"
    markets_file.write_text(json.dumps(WITH_US))
    translated = {"de": {"name": "Laufschuhe", "description": "Leicht"}}
    await source.apply(
        "runner",
        (kinds.CATALOG, catalog("runner", name="Running shoe", translations=translated)),
        (kinds.PRICES, price("runner", "10.00")),
    )
    await stock_product(source, "boot", "Hiking boot", "Acme", "20.00")
    async with gateway(search_enabled=True, markets_file=markets_file) as http:
        await until_found(http, 2)
        german = (await graphql(http, IN_GERMAN, q="laufschuh")).json()["data"]["search"]
        english = await search(http, q="laufschuh")
        own_words = (await graphql(http, IN_GERMAN, q="hiking")).json()["data"]["search"]
    assert [e["node"] for e in german["edges"]] == [{"id": "runner", "name": "Laufschuhe"}]
    assert english["edges"] == []
    assert [e["node"]["id"] for e in own_words["edges"]] == ["boot"]
