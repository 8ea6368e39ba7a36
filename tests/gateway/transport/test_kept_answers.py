"""Queries sent as text, POSTed or as a GET, are answered from kept bytes where a
persisted GET would be, and run where it would run."""

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
from tests.gateway.changelog_source import Source, fail_changelog_fetch_once
from tests.gateway.conftest import GatewayFactory, full_product, sample, until_counted
from tests.gateway.execution.test_auth import SECRET, token
from tests.gateway.execution.test_persisted_operations import kept_answers
from tests.helpers import eventually
from tests.materializer.conftest import catalog, delta

PAGE = "query Page($id: ID!) { product(id: $id) { id name version price { amount } } }"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


async def post(
    http: httpx.AsyncClient, query: str = PAGE, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await http.post(
        "/graphql", json={"query": query, "variables": {"id": "abc"}}, headers=headers
    )


async def until_kept(http: httpx.AsyncClient, query: str = PAGE) -> None:
    """Ask until an answer came from the response cache (the reader must catch up)."""
    lookups = "shopwindow_response_cache_lookups_total"
    await until_counted(http, lambda: post(http, query), lookups, 1, result="hit")


async def test_a_posted_query_is_kept_until_a_product_it_read_changes(
    source: Source,
    mongo: AsyncMongoClient[MongoDocument],
    database_name: str,
    gateway: GatewayFactory,
) -> None:
    await source.apply("abc", *full_product("abc"))
    async with gateway() as http:
        await until_kept(http)
        before = await kept_answers(http)
        kept = await post(http)
        assert await kept_answers(http) == before + 1
        # Changed in MongoDB behind the changelog's back: the kept bytes still hold.
        await mongo[database_name][COLLECTION].update_one(
            {"_id": "abc"}, {"$set": {"catalog.name": "Not announced"}}
        )
        assert (await post(http)).json()["data"]["product"]["name"] == "Trail shoe"
        # The same text sent as a GET shares the kept answer.
        as_get = await http.get("/graphql", params={"query": PAGE, "variables": '{"id": "abc"}'})
        assert await kept_answers(http) == before + 3
        # An announced change: the kept answer is stale, and the operation runs again.
        await source.apply("abc", (kinds.CATALOG, catalog(name="Announced", minutes=1)))
        changed = await eventually(
            lambda: post(http), lambda r: r.json()["data"]["product"]["name"] == "Announced"
        )
        stale = await sample(http, "shopwindow_response_cache_lookups_total", result="stale")
    assert stale >= 1
    assert kept.json()["data"] == as_get.json()["data"]
    assert kept.json()["data"]["product"] == {
        "id": "abc",
        "name": "Trail shoe",
        "version": 4,
        "price": {"amount": "17.99"},
    }
    assert changed.json()["data"]["product"]["version"] == 5
    # A kept answer has the extensions a run one has, with the cost of what it serves.
    assert set(kept.json()["extensions"]) == set(changed.json()["extensions"])
    assert kept.json()["extensions"]["cost"]["actualQueryCost"] == 2
    # HTTP caching stays for persisted GETs: a POST's or a text GET's URL is not a key.
    for response in (kept, as_get, changed):
        assert response.headers["cache-control"] == "no-store"
        assert "etag" not in response.headers


async def test_a_persisted_get_is_answered_from_what_a_post_kept(
    source: Source, gateway: GatewayFactory
) -> None:
    await source.apply("abc", *full_product("abc"))
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256_of(PAGE)}}
    async with gateway() as http:
        await until_kept(http)
        before = await kept_answers(http)
        response = await http.get(
            "/graphql",
            params={
                "query": PAGE,
                "variables": '{"id": "abc"}',
                "extensions": orjson.dumps(extensions).decode(),
            },
        )
        assert await kept_answers(http) == before + 1
    assert response.headers["etag"].startswith('W/"')
    assert response.json()["data"]["product"]["name"] == "Trail shoe"


async def test_another_segment_gets_its_own_answer(source: Source, gateway: GatewayFactory) -> None:
    await source.apply("abc", *full_product("abc"))
    gold = {"authorization": f"Bearer {token(segment='gold')}"}
    async with gateway(jwt_hs256_secret=SECRET) as http:
        await until_kept(http)
        before = await kept_answers(http)
        first_gold = await post(http, headers=gold)
        assert await kept_answers(http) == before  # Kept for anonymous viewers only: it runs.
        second_gold = await post(http, headers=gold)
        assert await kept_answers(http) == before + 1  # Now kept for gold too.
        anonymous = await post(http)
    assert first_gold.json()["data"] == second_gold.json()["data"]
    assert first_gold.json()["data"]["product"]["price"] == {"amount": "15.00"}
    assert anonymous.json()["data"]["product"]["price"] == {"amount": "17.99"}


async def test_a_read_your_writes_post_always_runs(
    topics: TopicNames, source: Source, gateway: GatewayFactory
) -> None:
    await source.apply("abc", *full_product("abc"))
    after = {"shopwindow-after": f"{kinds.INVENTORY.name_in(topics)}:0:0"}
    async with gateway() as http:
        await until_kept(http)
        before = await kept_answers(http)
        answers = [await post(http, headers=after) for _ in range(3)]
        assert await kept_answers(http) == before
    assert all(a.json()["data"]["product"]["name"] == "Trail shoe" for a in answers)
    assert all("consistency" in a.json()["extensions"] for a in answers)


async def test_an_extension_field_is_never_kept(
    monkeypatch: pytest.MonkeyPatch, source: Source, gateway: GatewayFactory
) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES / "similar_products"))
    for product_id in ("abc", "abd"):
        await source.apply(product_id, *full_product(product_id))
    similar = (
        "query Page($id: ID!) { product(id: $id) { id name similarProducts(first: 5) { id } } }"
    )
    async with gateway(extensions="shopwindow_similar_products:extension") as http:
        await until_kept(http)  # The reader is current: plain product reads are kept.
        before = await kept_answers(http)
        answers = [(await post(http, similar)).json() for _ in range(3)]
        assert await kept_answers(http) == before
    assert all(a["data"]["product"]["similarProducts"] == [{"id": "abd"}] for a in answers)


async def test_a_restarted_reader_runs_the_query_until_it_is_current_again(
    source: Source, gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    await source.apply("abc", *full_product("abc"))
    async with gateway() as http:
        await until_kept(http)
        # Stored and never announced: only MongoDB knows.
        await source.apply_quietly("abc", (kinds.INVENTORY, delta(-3, minutes=1)))
        assert (await post(http)).json()["data"]["product"]["version"] == 4  # Kept, for now.
        failures = fail_changelog_fetch_once(monkeypatch)
        served: Any = await eventually(
            lambda: post(http), lambda r: r.json()["data"]["product"]["version"] == 5
        )
        stale = await sample(http, "shopwindow_response_cache_lookups_total", result="stale")
    assert failures
    assert stale >= 1
    assert served.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "extra",
    [
        {"n": 2**70},  # Beyond 64 bits: read from the body as a float.
        {"deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
        {"\u0000": "\ud7ff\u0000", "id": "abc"},
    ],
    ids=["huge-integer", "deep-list", "control-characters"],
)
async def test_hostile_variables_are_answered_and_kept_apart(
    extra: dict[str, Any], source: Source, gateway: GatewayFactory
) -> None:
    await source.apply("abc", *full_product("abc"))
    variables = {"id": "abc", **extra}
    async with gateway() as http:
        await until_kept(http)
        before = await kept_answers(http)
        answers = [
            await http.post("/graphql", json={"query": PAGE, "variables": variables})
            for _ in range(3)
        ]
        hits = await kept_answers(http) - before
    assert all(a.status_code == 200 for a in answers)
    assert all(a.json()["data"]["product"]["name"] == "Trail shoe" for a in answers)
    # Kept under their own key: the first is a miss, not the plain variables' answer.
    assert hits <= 2
