"""Persisted operations on every transport, and HTTP caching of persisted GETs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pymongo import AsyncMongoClient

from shopwindow.document import COLLECTION
from shopwindow.gateway.execution.persisted import sha256_of
from shopwindow.mongo import MongoDocument
from shopwindow.topics import TopicNames
from tests import kinds
from tests.gateway.changelog_source import Source
from tests.gateway.conftest import GatewayFactory, Seed, full_product, sample
from tests.gateway.execution.test_auth import SECRET, token
from tests.gateway.transports import LEGACY_WS, TRANSPORTS, Transport
from tests.helpers import eventually
from tests.materializer.conftest import catalog, price

PAGE = "query Page($id: ID!) { product(id: $id) { id name price { amount } } }"
LIVE = "subscription Live($id: ID!) { product: productChanged(id: $id) { id name } }"


def persisted(query: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256_of(query)}}


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


@pytest.mark.parametrize("transport", TRANSPORTS, ids=lambda t: t.name)
async def test_an_apq_miss_then_the_text_then_a_hit(
    transport: Transport, seed: Seed, gateway: GatewayFactory
) -> None:
    await seed("abc", *full_product("abc"))
    # A text of its own per transport, so that each starts with a miss; the legacy
    # WebSocket protocol carries subscriptions only.
    field = "productChanged(id:" if transport.name == LEGACY_WS else "product(id:"
    query = f'{{ {transport.name.replace("-", "_")}: {field} "abc") {{ name }} }}'
    if transport.name == LEGACY_WS:
        query = "subscription " + query
    async with gateway() as http:
        missed = await transport.run(http, None, extensions=persisted(query))
        assert codes(missed) == ["PERSISTED_QUERY_NOT_FOUND"]
        assert missed["errors"][0]["message"] == "PersistedQueryNotFound"
        sent = await transport.run(http, query, extensions=persisted(query))
        hit = await transport.run(http, None, extensions=persisted(query))
        wrong = await transport.run(http, "{ __typename }", extensions=persisted(query))
    expected = {transport.name.replace("-", "_"): {"name": "Trail shoe"}}
    assert sent["data"] == hit["data"] == expected
    assert codes(wrong) == ["BAD_REQUEST"]


@pytest.mark.parametrize("transport", TRANSPORTS, ids=lambda t: t.name)
async def test_trusted_documents_refuse_every_other_operation(
    transport: Transport, tmp_path: Path, seed: Seed, gateway: GatewayFactory
) -> None:
    await seed("abc", *full_product("abc"))
    manifest = tmp_path / "manifest.json"
    operations = [
        {"id": "page-1", "name": "Page", "type": "query", "body": PAGE},
        {"id": "live-1", "name": "Live", "type": "subscription", "body": LIVE},
    ]
    # The legacy WebSocket protocol carries subscriptions only.
    op_id, text = ("live-1", LIVE) if transport.name == LEGACY_WS else ("page-1", PAGE)
    manifest.write_bytes(
        orjson.dumps(
            {"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations}
        )
    )
    by_id = {"persistedQuery": {"version": 1, "sha256Hash": op_id}}
    async with gateway(persisted_only=True, persisted_manifest=manifest) as http:
        listed = await transport.run(http, None, {"id": "abc"}, extensions=by_id)
        listed_text = await transport.run(http, text, {"id": "abc"})
        other = await transport.run(http, '{ product(id: "abc") { id } }')
        learnt = await transport.run(http, "{ __typename }", extensions=persisted("{ __typename }"))
        unknown = await transport.run(
            http, None, extensions={"persistedQuery": {"version": 1, "sha256Hash": "page-2"}}
        )
    assert listed["data"]["product"]["id"] == "abc"
    assert listed_text["data"] == listed["data"]
    for refused in (other, learnt, unknown):
        assert codes(refused) == ["PERSISTED_QUERY_NOT_IN_LIST"]
        assert "data" not in refused or refused["data"] is None


async def get(
    http: httpx.AsyncClient, query: str | None, headers: dict[str, str] | None = None
) -> httpx.Response:
    params = {"variables": '{"id": "abc"}', "extensions": orjson.dumps(persisted(PAGE)).decode()}
    if query is not None:
        params["query"] = query
    return await http.get("/graphql", params=params, headers=headers)


async def test_a_persisted_get_is_revalidated_with_its_entity_tag(
    source: Source, gateway: GatewayFactory
) -> None:
    await source.apply("abc", *full_product("abc"))
    async with gateway(http_cache_max_age_s=7, http_cache_stale_while_revalidate_s=60) as http:
        missed = await get(http, None)
        assert missed.status_code == 200 and missed.headers["cache-control"] == "no-store"
        first = await get(http, PAGE)
        assert first.status_code == 200, first.text
        tag = first.headers["etag"]
        assert tag.startswith('W/"')
        assert first.headers["cache-control"] == "public, max-age=7, stale-while-revalidate=60"
        assert "Authorization" in first.headers["vary"]
        # What a CDN or browser does: ask again, by hash alone, with the tag.
        same = await get(http, None, {"if-none-match": tag})
        assert same.status_code == 304 and same.content == b""
        assert same.headers["etag"] == tag
        await source.apply("abc", (kinds.PRICES, price("abc", "12.50", minutes=1)))

        async def revalidate() -> httpx.Response:
            return await get(http, None, {"if-none-match": tag})

        changed = await eventually(revalidate, lambda r: r.status_code == 200)
        assert changed.headers["etag"] != tag
        assert changed.json()["data"]["product"]["price"] == {"amount": "12.50"}
        # A tag that is not this answer's, and junk, get the answer.
        for junk in ('W/"0000"', "x" * 8000, '"", ,W/'):
            assert (await get(http, None, {"if-none-match": junk})).status_code == 200
        not_modified = await sample(http, "shopwindow_graphql_not_modified_total")
    assert not_modified >= 1  # And more while the change travelled.


async def test_only_anonymous_successful_persisted_gets_are_shared(
    topics: TopicNames, seed: Seed, gateway: GatewayFactory
) -> None:
    await seed("abc", *full_product("abc"))
    async with gateway(jwt_hs256_secret=SECRET) as http:
        await get(http, PAGE)
        signed_in = await get(http, None, {"authorization": f"Bearer {token(segment='gold')}"})
        after = f"{kinds.INVENTORY.name_in(topics)}:0:0"
        consistent = await get(http, None, {"shopwindow-after": after})
        posted = await http.post("/graphql", json={"query": PAGE, "variables": {"id": "abc"}})
        failing = await http.get(
            "/graphql",
            params={
                "query": "{ products(ids: []) { id } nope }",
                "extensions": orjson.dumps(persisted("{ products(ids: []) { id } nope }")).decode(),
            },
        )
    assert signed_in.headers["cache-control"] == "private, max-age=5"
    assert signed_in.json()["data"]["product"]["price"] == {"amount": "15.00"}
    assert consistent.headers["cache-control"] == "no-store"
    for response in (posted, failing):
        assert response.headers["cache-control"] == "no-store"
        assert "etag" not in response.headers


@pytest.mark.parametrize("transport", TRANSPORTS, ids=lambda t: t.name)
@pytest.mark.parametrize(
    "extensions",
    [
        {"persistedQuery": {"version": 1, "sha256Hash": "f" * 10_000}},
        {"persistedQuery": {"version": "1", "sha256Hash": "0" * 64}},
        {"persistedQuery": {"version": 1, "sha256Hash": ["0" * 64]}},
        {"persistedQuery": []},
        {"persistedQuery": "\u0000"},
    ],
)
async def test_hostile_persisted_query_extensions_get_a_clean_error(
    transport: Transport, extensions: dict[str, Any], seed: Seed, gateway: GatewayFactory
) -> None:
    await seed("a", *full_product("a"))
    async with gateway() as http:
        answer = await transport.run(http, None, extensions=extensions)
        # The connection and the server survive it.
        after = await transport.run(
            http,
            'subscription { productChanged(id: "a") { id } }'
            if transport.name == LEGACY_WS
            else "{ __typename }",
        )
    assert codes(answer) == ["BAD_REQUEST"]
    assert "errors" not in after and after["data"]


async def kept_answers(http: httpx.AsyncClient) -> float:
    return await sample(http, "shopwindow_response_cache_lookups_total", result="hit")


async def test_a_kept_answer_is_served_until_a_product_it_read_changes(
    source: Source,
    mongo: AsyncMongoClient[MongoDocument],
    database_name: str,
    gateway: GatewayFactory,
) -> None:
    await source.apply("abc", *full_product("abc"))
    async with gateway() as http:
        await get(http, PAGE)

        async def name_and_hits() -> tuple[str, float]:
            body = (await get(http, None)).json()
            return body["data"]["product"]["name"], await kept_answers(http)

        await eventually(name_and_hits, lambda answer: answer[1] >= 2)

        async def served_kept() -> tuple[Any, bool]:
            hits = await kept_answers(http)
            body = (await get(http, None)).json()
            return body, await kept_answers(http) > hits

        kept, _ = await eventually(served_kept, lambda answer: answer[1])
        # A kept answer reports the actual cost of the bytes it serves: product + price.
        assert kept["extensions"]["cost"]["actualQueryCost"] == 2
        # Changed in MongoDB behind the changelog's back: the kept answer still holds.
        await mongo[database_name][COLLECTION].update_one(
            {"_id": "abc"}, {"$set": {"catalog.name": "Not announced"}}
        )
        assert (await name_and_hits())[0] == "Trail shoe"
        # An announced change makes it stale: the operation runs again.
        await source.apply("abc", (kinds.CATALOG, catalog(name="Announced", minutes=1)))
        await eventually(name_and_hits, lambda answer: answer[0] == "Announced")
        body = (await get(http, None)).json()
    assert body["extensions"]["cost"]["requestedQueryCost"] > 0
    assert set(body["extensions"]["freshness"]) == {"oldestMaterializedAt", "changelogLag"}


async def test_answers_reading_more_than_known_products_by_id_are_never_kept(
    topics: TopicNames, source: Source, gateway: GatewayFactory
) -> None:
    await source.apply("abc", *full_product("abc"))
    listing = '{ productsByCategory(category: "shoes") { edges { node { name } } } }'
    after = {"shopwindow-after": f"{kinds.INVENTORY.name_in(topics)}:0:0"}

    async def ask(query: str, variables: str, headers: dict[str, str] | None = None) -> Any:
        params = {"variables": variables, "extensions": orjson.dumps(persisted(query)).decode()}
        await http.get("/graphql", params={**params, "query": query}, headers=headers)
        return (await http.get("/graphql", params=params, headers=headers)).json()

    async with gateway() as http:
        await eventually(lambda: ask(PAGE, '{"id": "abc"}'), lambda b: b["data"]["product"])
        for _ in range(3):
            await ask(listing, "{}")
            await ask(PAGE, '{"id": "unknown"}')  # Null: its absence cannot be checked.
            await ask(PAGE, '{"id": "abc"}', after)
        hits = await kept_answers(http)
    assert hits == 0


async def test_a_browser_opening_a_persisted_url_gets_the_answer_not_graphiql(
    gateway: GatewayFactory,
) -> None:
    async with gateway(graphiql=True) as http:
        response = await http.get(
            "/graphql",
            params={"extensions": orjson.dumps(persisted(PAGE)).decode()},
            headers={"accept": "text/html,application/json;q=0.9"},
        )
    assert response.headers["content-type"].startswith("application/json")
    assert codes(response.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
