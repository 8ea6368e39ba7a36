"""The storefront page, in a real headless Chromium, against the whole pipeline:
Kafka -> materializer -> MongoDB and changelog -> gateway -> the page."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Route, expect

from bench.browser import ChromiumMissing, chromium
from shopwindow.devstack import DevStack
from shopwindow.gateway.app import create_app
from shopwindow.gateway.storefront import SECURITY_HEADERS
from shopwindow.http_server import HttpServer
from shopwindow.settings import GatewaySettings, MaterializerSettings
from shopwindow.topics import TopicNames
from tests import kinds
from tests.helpers import produce, running_materializer
from tests.materializer.conftest import at, catalog, delta, price, stock_take

# A jacket in sizes and colours: the navy S is sold out, and no olive L is made.
JACKET_STOCK = {"S-NAVY": 0, "S-OLIVE": 2, "M-NAVY": 4, "M-OLIVE": 2, "L-NAVY": 1}
JACKET = {
    "options": [
        {"name": "size", "values": ["S", "M", "L"]},
        {"name": "color", "values": ["navy", "olive"]},
    ],
    "variants": [
        {"sku": f"RJ-{size}-{color}", "options": {"size": size, "color": color.lower()}}
        for size, color in (key.split("-") for key in JACKET_STOCK)
    ],
}
# Producer data lands in the page: markup in a name must show as text and never run.
HOSTILE_NAME = '<img src=x onerror="window.pwned=1">Hostile</b><script>window.pwned=2</script>'


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    try:
        async with chromium() as started:
            yield started
    except ChromiumMissing as missing:
        pytest.fail(str(missing))


@pytest.fixture
async def storefront(
    stack: DevStack,
    topics: TopicNames,
    materializer_settings: Callable[..., MaterializerSettings],
    gateway_settings: Callable[..., GatewaySettings],
) -> AsyncIterator[str]:
    """The base URL of a gateway serving the storefront over three products."""
    catalog_topic, prices, inventory, clicks = (
        kinds.CATALOG.name_in(topics),
        kinds.PRICES.name_in(topics),
        kinds.INVENTORY.name_in(topics),
        kinds.CLICKS.name_in(topics),
    )
    products: list[tuple[str, dict[str, Any], str, int]] = [
        ("abc", {"name": "Trail shoe", "brand": "Northwind", "category": "shoes"}, "89.90", 10),
        (
            "p2",
            {"name": "Rain jacket", "brand": "Acme", "category": "jackets", **JACKET},
            "120.00",
            3,
        ),
        ("xss", {"name": HOSTILE_NAME, "brand": "Acme", "category": "shoes"}, "5.00", 1),
    ]
    await produce(
        stack.kafka_bootstrap_servers,
        [
            record
            for product_id, fields, amount, quantity in products
            for record in (
                (catalog_topic, product_id, catalog(product_id, description="Demo.", **fields)),
                (prices, product_id, price(product_id, amount)),
                (inventory, product_id, stock_take(quantity, product_id)),
                *(
                    (inventory, product_id, {**stock_take(n, product_id), "sku": f"RJ-{key}"})
                    for key, n in (JACKET_STOCK.items() if product_id == "p2" else ())
                ),
                # A view each, so that the trending shelf has them.
                (clicks, "u1", {"user_id": "u1", "product_id": product_id, "timestamp": at(0)}),
            )
        ],
    )
    gateway = HttpServer(create_app(gateway_settings(storefront=True)), "127.0.0.1", 0)
    async with running_materializer(materializer_settings()):
        await gateway.start()
        try:
            yield f"http://127.0.0.1:{gateway.port}"
        finally:
            await gateway.stop()


def watch_console(page: Page) -> list[str]:
    """Errors the page logs, script errors and CSP refusals among them."""
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A page of the browser, closed after the test."""
    opened = await browser.new_page(viewport={"width": 1200, "height": 800})
    try:
        yield opened
    finally:
        await opened.close()


async def settled(page: Page) -> None:
    """Until the newest route has rendered (the view is aria-busy while it loads): a
    check on what an older render also shows would pass before the new one lands."""
    await expect(page.locator("#view")).not_to_have_attribute("aria-busy", "true")


async def screenshot(page: Page, name: str) -> None:
    # `make screenshots` sets the folder; docs/storefront.md shows what it writes.
    folder = os.environ.get("SHOPWINDOW_SCREENSHOTS_DIR")
    if folder:
        await page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


async def test_search_open_a_product_and_see_a_stock_change_live(
    storefront: str, page: Page, stack: DevStack, topics: TopicNames
) -> None:
    problems = watch_console(page)
    await page.goto(f"{storefront}/")
    # The category list comes from the search index's facets: the changelog is in.
    await expect(page.locator("#categories a", has_text="jackets")).to_be_visible(timeout=30_000)
    await page.reload()  # The shelf may have been read before the products were indexed.
    await expect(page.get_by_test_id("trending").get_by_test_id("product-card")).to_have_count(3)
    # Nothing on the home page is live: no live state to show, not "offline".
    await expect(page.locator("#connection")).to_be_hidden()
    await screenshot(page, "storefront-home")

    await page.get_by_role("searchbox").fill("trail")
    await page.get_by_role("button", name="Search").click()
    results = page.get_by_test_id("results").get_by_test_id("product-card")
    await expect(results).to_have_count(1)
    await expect(results.first).to_contain_text("Trail shoe")
    await expect(page.get_by_test_id("facets")).to_contain_text("Northwind (1)")
    await settled(page)
    await screenshot(page, "storefront-search")

    await results.first.click()
    await expect(page.get_by_test_id("product-name")).to_have_text("Trail shoe")
    stock = page.get_by_test_id("stock")
    await expect(stock).to_have_text("In stock: 10 available")
    await expect(page.locator("#connection")).to_have_text("live")

    await produce(
        stack.kafka_bootstrap_servers, [(kinds.INVENTORY.name_in(topics), "abc", delta(-4))]
    )
    # A change produced to Kafka reaches the open page. How soon (the promise is 2 s)
    # is measured by `make bench-storefront`, not asserted against a clock here.
    await expect(stock).to_have_text("In stock: 6 available", timeout=30_000)
    await screenshot(page, "storefront-product")
    # Back on a page with nothing live, the live state goes with it.
    await page.go_back()
    await expect(page.get_by_test_id("results")).to_be_visible()
    await expect(page.locator("#connection")).to_be_hidden()
    assert problems == []


async def test_pick_a_variant_and_see_its_stock_change_live(
    storefront: str, page: Page, stack: DevStack, topics: TopicNames
) -> None:
    problems = watch_console(page)
    await page.goto(f"{storefront}/#/search?q=jacket")
    # Option facets, counted per variant: sizes and colours of the jacket.
    facets = page.get_by_test_id("facets")
    await expect(facets).to_contain_text("olive (1)", timeout=30_000)
    await page.get_by_label("M (1)").check()
    await settled(page)  # "1 product" was the count before the filter too.
    await expect(page.get_by_test_id("result-count")).to_have_text("1 product")
    await screenshot(page, "storefront-search-options")

    await page.get_by_test_id("results").get_by_test_id("product-card").first.click()
    await expect(page.get_by_test_id("product-name")).to_have_text("Rain jacket")
    stock = page.get_by_test_id("stock")
    # The first variant for sale: the navy S is sold out, so the olive S.
    await expect(page.get_by_test_id("choice-size-S")).to_have_attribute("aria-pressed", "true")
    await expect(page.get_by_test_id("choice-color-olive")).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(stock).to_contain_text("2 available")
    # A sold-out combination is shown as such, and one never made as unavailable.
    await page.get_by_test_id("choice-color-navy").click()
    await expect(stock).to_have_text("Out of stock: 0 available")
    await expect(page.get_by_test_id("choice-size-S")).to_have_class(re.compile("sold-out"))
    await page.get_by_test_id("choice-color-olive").click()
    await expect(page.get_by_test_id("choice-size-L")).to_have_class(re.compile("unavailable"))

    await page.get_by_test_id("choice-size-M").click()
    await page.get_by_test_id("choice-color-navy").click()
    await expect(stock).to_contain_text("4 available")
    await expect(page.locator("#connection")).to_have_text("live")
    inventory = kinds.INVENTORY.name_in(topics)
    await produce(
        stack.kafka_bootstrap_servers,
        [
            # Another variant's change first: the page follows the navy M alone.
            (inventory, "p2", {**delta(-2, "p2"), "sku": "RJ-M-OLIVE"}),
            (inventory, "p2", {**delta(-3, "p2"), "sku": "RJ-M-NAVY"}),
        ],
    )
    await expect(stock).to_contain_text("1 available", timeout=30_000)
    await screenshot(page, "storefront-variants")
    assert problems == []


async def test_a_page_answered_late_never_replaces_the_one_picked_after_it(
    storefront: str, page: Page
) -> None:
    problems = watch_console(page)
    await page.goto(f"{storefront}/#/product/p2")
    await expect(page.get_by_test_id("product-name")).to_have_text("Rain jacket", timeout=30_000)
    released = asyncio.Event()

    async def hold_searches(route: Route) -> None:
        # The search's answer is held until the product page picked after it is shown.
        if "query Search(" in (route.request.post_data or ""):
            await released.wait()
        await route.continue_()

    await page.route("**/graphql", hold_searches)
    await page.goto(f"{storefront}/#/search?q=jacket")
    await expect(page.locator("#view")).to_have_attribute("aria-busy", "true")
    await page.goto(f"{storefront}/#/product/abc")
    await expect(page.get_by_test_id("product-name")).to_have_text("Trail shoe")
    await settled(page)
    released.set()  # The search answers now, late.
    await page.wait_for_load_state("networkidle")
    await expect(page.get_by_test_id("product-name")).to_have_text("Trail shoe")
    assert await page.get_by_test_id("results").count() == 0
    await page.unroute("**/graphql")
    assert problems == []


async def test_markup_in_product_data_is_shown_as_text_and_never_runs(
    storefront: str, page: Page
) -> None:
    problems = watch_console(page)
    await page.goto(f"{storefront}/#/product/xss")
    await expect(page.get_by_test_id("product-name")).to_have_text(HOSTILE_NAME, timeout=30_000)
    await page.goto(f"{storefront}/#/category/shoes")
    await expect(page.get_by_test_id("product-card")).to_have_count(2, timeout=30_000)
    assert await page.evaluate("window.pwned") is None
    assert await page.locator("main img, main script").count() == 0
    # A route to a product id that is markup itself is just an unknown product.
    await page.goto(f"{storefront}/#/product/%3Cimg%20src%3Dx%3E")
    await expect(page.locator("main")).to_contain_text("not available")
    assert problems == []


@contextlib.asynccontextmanager
async def served(settings: GatewaySettings) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway over HTTP, without a materializer or data, and a client of it."""
    gateway = HttpServer(create_app(settings), "127.0.0.1", 0)
    await gateway.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as http:
            yield http
    finally:
        await gateway.stop()


async def test_the_page_is_served_with_a_policy_that_allows_this_origin_only(
    gateway_settings: Callable[..., GatewaySettings],
) -> None:
    async with served(gateway_settings(storefront=True)) as http:
        page = await http.get("/")
        script = await http.get("/storefront/app.js")
        outside = await http.get("/storefront/../../settings.py")
        missing = await http.get("/storefront/nothing.js")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    for response in (page, script):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value
    assert "http" not in page.text.replace("http-equiv", "")  # Nothing from another host.
    assert outside.status_code == 404 and missing.status_code == 404


async def test_without_the_setting_only_the_api_is_served(
    gateway_settings: Callable[..., GatewaySettings],
) -> None:
    async with served(gateway_settings()) as http:
        assert (await http.get("/")).status_code == 404
        assert (await http.get("/storefront/app.js")).status_code == 404
