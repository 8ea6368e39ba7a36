"""Scheduled prices through the gateway, on a clock the test moves: the price in effect
is chosen when read, kept answers and HTTP caches never outlive it, and subscribers
hear of a boundary without a new record."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from gql import GraphQLRequest

from shopwindow.clock import ManualClock
from tests import kinds
from tests.gateway.changelog_source import Source
from tests.gateway.conftest import GatewayFactory, full_product
from tests.gateway.execution.test_persisted_operations import PAGE, get, kept_answers
from tests.gateway.live.test_subscriptions import PROTOCOLS, hub_listening, session
from tests.helpers import eventually
from tests.materializer.conftest import T0, at, price

# The sale runs from T0 + 2 h until T0 + 3 h; the product's own price is 17.99.
SALE = price("abc", "15.00", minutes=1, valid_from=at(120), valid_until=at(180))
HOUR = timedelta(hours=1)


async def amount_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["product"]["price"]["amount"])


async def test_kept_answers_and_http_caches_expire_at_the_boundary(
    source: Source, gateway: GatewayFactory
) -> None:
    await source.apply("abc", *full_product("abc"), (kinds.PRICES, SALE))
    clock = ManualClock(T0 + HOUR)
    caching = {"http_cache_max_age_s": 5 * 3600, "http_cache_stale_while_revalidate_s": 60}
    async with gateway(clock=clock, **caching) as http:
        first = await eventually(lambda: get(http, PAGE), lambda r: r.status_code == 200)
        assert await amount_of(first) == "17.99"
        # The sale begins in an hour: no cache may keep this answer longer.
        assert first.headers["cache-control"] == ("public, max-age=3600, stale-while-revalidate=0")

        async def kept() -> tuple[httpx.Response, float]:
            hits = await kept_answers(http)
            response = await get(http, None)
            return response, await kept_answers(http) - hits

        response, _ = await eventually(kept, lambda answer: answer[1] == 1)
        assert await amount_of(response) == "17.99"
        # The kept answer knows its end: served from kept bytes, capped the same way.
        assert response.headers["cache-control"] == first.headers["cache-control"]

        await clock.advance(HOUR)
        on_sale, hits = await kept()
        assert (await amount_of(on_sale), hits) == ("15.00", 0)
        assert on_sale.headers["etag"] != first.headers["etag"]
        assert on_sale.headers["cache-control"] == (
            "public, max-age=3600, stale-while-revalidate=0"
        )
        stale_tag = {"if-none-match": first.headers["etag"]}
        assert (await get(http, None, stale_tag)).status_code == 200
        posted = await http.post("/graphql", json={"query": PAGE, "variables": {"id": "abc"}})
        assert await amount_of(posted) == "15.00"

        await clock.advance(HOUR + timedelta(seconds=1))
        after, _ = await kept()
        assert await amount_of(after) == "17.99"
        # No boundary left: the configured lifetime again.
        assert after.headers["cache-control"] == (
            "public, max-age=18000, stale-while-revalidate=60"
        )


PRICE = 'subscription { priceChanged(productId: "abc") { price { amount lowestPrice30d } } }'
PRODUCT = 'subscription { productChanged(id: "abc") { version price { amount } } }'


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_subscribers_get_the_new_price_at_the_boundary_without_a_record(
    protocol: str, source: Source, gateway: GatewayFactory
) -> None:
    await source.apply("abc", *full_product("abc"), (kinds.PRICES, SALE))
    clock = ManualClock(T0 + HOUR)
    async with gateway(clock=clock) as http:
        await hub_listening(http)
        async with session(http, protocol) as live, session(http, protocol) as other:
            prices = live.subscribe(GraphQLRequest(PRICE))
            products = other.subscribe(GraphQLRequest(PRODUCT))
            first, product = await anext(prices), await anext(products)
            await clock.advance(HOUR)
            on_sale = await asyncio.wait_for(anext(prices), 10)
            product_on_sale = await asyncio.wait_for(anext(products), 10)
            await clock.advance(HOUR)
            ended = await asyncio.wait_for(anext(prices), 10)
    assert first["priceChanged"]["price"] == {"amount": "17.99", "lowestPrice30d": None}
    # A reduction from 17.99: the lowest price of the 30 days before it began.
    assert on_sale["priceChanged"]["price"] == {"amount": "15.00", "lowestPrice30d": "17.99"}
    assert ended["priceChanged"]["price"] == {"amount": "17.99", "lowestPrice30d": None}
    # The whole product too, at the same version: no record arrived.
    assert product_on_sale["productChanged"]["price"] == {"amount": "15.00"}
    assert product_on_sale["productChanged"]["version"] == product["productChanged"]["version"]
