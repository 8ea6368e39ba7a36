"""Prices per market through GraphQL: each shopper sees their market's price, its
fallback's where it has none, and none where neither has one; kept answers and live
groups keep the markets apart."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from gql import GraphQLRequest

from shopwindow.materializer.fold import FoldSettings
from tests import kinds
from tests.gateway.changelog_source import Source
from tests.gateway.conftest import GatewayFactory
from tests.gateway.execution.test_localization import MARKETS, post
from tests.gateway.execution.test_persisted_operations import kept_answers, persisted
from tests.gateway.live.test_subscriptions import PROTOCOLS, SECRET, hub_listening, session
from tests.helpers import eventually
from tests.materializer.conftest import catalog, price, sizes, stock_take

# eu is the default; ch falls back to eu; us has no fallback.
WITH_US: dict[str, Any] = {
    **MARKETS,
    "markets": [
        *MARKETS["markets"],
        {"id": "us", "countries": ["US"], "currency": "USD", "default_language": "en"},
    ],
}
PAGE = (
    'query Page($c: CountryCode) @inContext(country: $c) { product(id: "abc") { '
    "availableForSale price { amount currency } "
    'variantBySelectedOptions(selectedOptions: [{name: "size", value: "B"}]) '
    "{ sku price { amount currency } } } }"
)


@pytest.fixture
def markets_file(tmp_path: Path) -> Path:
    path = tmp_path / "markets.json"
    path.write_text(json.dumps(WITH_US))
    return path


async def events(source: Source, gateway: GatewayFactory, markets_file: Path) -> None:
    # Folded as a materializer reading the same markets file would.
    source.fold_settings = FoldSettings(markets=frozenset({"eu", "ch", "us"}), default_market="eu")
    await source.apply(
        "abc",
        (kinds.CATALOG, {**catalog(), **sizes(["A", "B"])}),
        (kinds.INVENTORY, {**stock_take(5), "sku": "A"}),
        (kinds.INVENTORY, {**stock_take(5), "sku": "B"}),
        (kinds.PRICES, price(amount="20.00")),
        (kinds.PRICES, {**price(amount="19.00"), "sku": "B"}),
        (kinds.PRICES, {**price(amount="25.00", currency="CHF"), "market": "ch", "sku": "A"}),
    )


async def test_each_market_sees_its_price_its_fallbacks_or_none(
    source: Source, gateway: GatewayFactory, markets_file: Path
) -> None:
    await events(source, gateway, markets_file)
    async with gateway(markets_file=markets_file) as http:

        async def pages() -> tuple[dict[str, Any], ...]:
            found = []
            for country in ("DE", "CH", "US"):
                found.append((await post(http, PAGE, c=country))["data"]["product"])
            return tuple(found)

        german, swiss, american = await eventually(pages, lambda p: p[0] is not None)

        async def kept_round() -> tuple[tuple[dict[str, Any], ...], float]:
            before = await kept_answers(http)
            return await pages(), await kept_answers(http) - before

        # Kept answers too: until all three are served from kept bytes, and still apart.
        kept, _ = await eventually(kept_round, lambda answer: answer[1] == 3)
        assert kept == (german, swiss, american)
    assert german == {
        "availableForSale": True,
        "price": {"amount": "19.00", "currency": "EUR"},
        "variantBySelectedOptions": {"sku": "B", "price": {"amount": "19.00", "currency": "EUR"}},
    }
    # A's CHF price is ch's own; B has none in ch, so eu's applies: no conversion.
    assert swiss["price"] == {"amount": "19.00", "currency": "EUR"}
    assert swiss["variantBySelectedOptions"]["price"] == {"amount": "19.00", "currency": "EUR"}
    # us has no price and no fallback: no price, and not for sale there.
    assert american == {
        "availableForSale": False,
        "price": None,
        "variantBySelectedOptions": {"sku": "B", "price": None},
    }


LIVE = (
    "subscription Price($c: CountryCode) @inContext(country: $c) "
    '{ priceChanged(productId: "abc", sku: "A") { price { amount currency } } }'
)


async def test_a_market_price_change_reaches_that_markets_subscribers_alone(
    source: Source, gateway: GatewayFactory, markets_file: Path
) -> None:
    await events(source, gateway, markets_file)
    async with gateway(markets_file=markets_file) as http:
        await hub_listening(http)
        async with session(http, PROTOCOLS[0]) as swiss, session(http, PROTOCOLS[0]) as german:
            swiss_updates = swiss.subscribe(GraphQLRequest(LIVE, variable_values={"c": "CH"}))
            german_updates = german.subscribe(GraphQLRequest(LIVE, variable_values={"c": "DE"}))
            firsts = [await anext(swiss_updates), await anext(german_updates)]
            await source.apply(
                "abc",
                (
                    kinds.PRICES,
                    {
                        **price(amount="24.00", currency="CHF", minutes=1),
                        "market": "ch",
                        "sku": "A",
                    },
                ),
            )
            swiss_second = await asyncio.wait_for(anext(swiss_updates), 10)
            # Then a change the German group sees: its next message must be that one, so
            # the CHF change sent it nothing (no timed wait for silence).
            await source.apply("abc", (kinds.PRICES, price(amount="21.00", minutes=2)))
            german_second = await asyncio.wait_for(anext(german_updates), 10)
    assert firsts[0]["priceChanged"]["price"] == {"amount": "25.00", "currency": "CHF"}
    assert firsts[1]["priceChanged"]["price"] == {"amount": "20.00", "currency": "EUR"}
    assert swiss_second["priceChanged"]["price"] == {"amount": "24.00", "currency": "CHF"}
    assert german_second["priceChanged"]["price"] == {"amount": "21.00", "currency": "EUR"}


async def test_the_prior_price_is_served_per_market_and_never_to_a_segment(
    source: Source, gateway: GatewayFactory, markets_file: Path
) -> None:
    source.fold_settings = FoldSettings(markets=frozenset({"eu", "ch", "us"}), default_market="eu")
    day = 24 * 60
    await source.apply(
        "abc",
        (kinds.CATALOG, catalog()),
        (kinds.INVENTORY, stock_take(5)),
        (kinds.PRICES, price(amount="100.00", segment_amounts={"gold": "50.00"})),
        (kinds.PRICES, price(amount="80.00", minutes=40 * day, segment_amounts={"gold": "50.00"})),
        (kinds.PRICES, {**price(amount="90.00", currency="CHF"), "market": "ch"}),
        (kinds.PRICES, {**price(amount="95.00", currency="CHF", minutes=day), "market": "ch"}),
    )
    query = (
        "query($c: CountryCode) @inContext(country: $c) "
        '{ product(id: "abc") { price { amount lowestPrice30d } } }'
    )
    gold = jwt.encode({"sub": "u", "exp": 9_999_999_999, "segment": "gold"}, SECRET)
    async with gateway(markets_file=markets_file, jwt_hs256_secret=SECRET) as http:

        async def prices() -> list[Any]:
            found = []
            for country in ("DE", "CH"):
                body = await post(http, query, c=country)
                found.append(body["data"]["product"])
            response = await http.post(
                "/graphql",
                json={"query": query, "variables": {"c": "DE"}},
                headers={"authorization": f"Bearer {gold}"},
            )
            found.append(response.json()["data"]["product"])
            return found

        german, swiss, member = await eventually(prices, lambda p: None not in p)
    assert german == {"price": {"amount": "80.00", "lowestPrice30d": "100.00"}}
    assert swiss == {"price": {"amount": "95.00", "lowestPrice30d": None}}  # a rise
    # A member's price is no public reduction: no prior price is claimed for it.
    assert member == {"price": {"amount": "50.00", "lowestPrice30d": None}}


async def test_an_entity_tag_of_one_market_never_revalidates_another(
    source: Source, gateway: GatewayFactory, markets_file: Path
) -> None:
    await events(source, gateway, markets_file)
    extensions = orjson.dumps(persisted(PAGE)).decode()

    async def get(country: str, headers: dict[str, str] | None = None) -> httpx.Response:
        params = {"query": PAGE, "variables": f'{{"c": "{country}"}}', "extensions": extensions}
        return await http.get("/graphql", params=params, headers=headers)

    async with gateway(markets_file=markets_file, http_cache_max_age_s=60) as http:
        american = await eventually(lambda: get("US"), lambda r: r.json()["data"]["product"])
        german = await get("DE")
        # The German URL asked with the American tag: the German answer, not a 304.
        revalidated = await get("DE", {"if-none-match": american.headers["etag"]})
        same = await get("DE", {"if-none-match": german.headers["etag"]})
    assert american.headers["etag"] != german.headers["etag"]
    assert revalidated.status_code == 200
    assert revalidated.json()["data"] == german.json()["data"] != american.json()["data"]
    assert same.status_code == 304
