"""GraphiQL served from the package: the vendored files are what the manifest says,
under the licences we ship, and the page renders and runs a query in a real Chromium
with no request leaving the origin."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Request, expect

from shopwindow.gateway.app import create_app
from shopwindow.gateway.graphiql.page import VENDOR, GraphiQLPage
from shopwindow.http_server import HttpServer
from shopwindow.settings import GatewaySettings
from shopwindow.vendor_graphiql import ALLOWED_LICENSES, PINS
from tests.gateway.conftest import GatewayFactory
from tests.gateway.storefront.test_storefront import browser, screenshot, watch_console

__all__ = ["browser"]  # The Chromium fixture, shared with the storefront's tests.

HTML = {"accept": "text/html,application/xhtml+xml"}


def test_the_vendored_files_are_the_pinned_releases_under_allowed_licences() -> None:
    manifest = GraphiQLPage.manifest()
    assert {p: e["version"] for p, e in manifest.items()} == {p: v for p, (v, _) in PINS.items()}
    shipped = {path.name for path in VENDOR.iterdir()} - {"MANIFEST.json"}
    listed: set[str] = set()
    for package, entry in manifest.items():
        assert entry["license"] in ALLOWED_LICENSES, package
        files = entry["files"]
        assert isinstance(files, dict) and f"LICENSE.{package}" in files
        for name, digest in files.items():
            assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
            listed.add(name)
    assert shipped == listed  # Nothing vendored that the manifest does not account for.


async def test_the_page_and_its_assets_come_from_the_api_path(gateway: GatewayFactory) -> None:
    async with gateway(graphiql=True) as http:
        page = await http.get("/graphql", headers=HTML)
        assert page.status_code == 200
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "://" not in page.text  # Every asset is a path on this origin.
        for name, asset in GraphiQLPage().assets.items():
            answer = await http.get("/graphql", params={"graphiql": name, "v": "x"})
            assert answer.status_code == 200, name
            assert answer.content == asset.body
            assert answer.headers["content-type"].startswith(asset.media_type.split(";")[0])
            assert "immutable" in answer.headers["cache-control"]
            again = await http.get(
                "/graphql",
                params={"graphiql": name},
                headers={"if-none-match": answer.headers["etag"]},
            )
            assert again.status_code == 304


@pytest.mark.parametrize(
    "query",
    [
        "graphiql=..%2F..%2Fpyproject.toml",
        "graphiql=MANIFEST.json",
        "graphiql=LICENSE.react",
        "graphiql=",
        "graphiql=" + "a" * 10_000,
        "graphiql=%00",
        "graphiql=%ff%fe",  # Not UTF-8.
        "graphiql=start.js%00.png",
    ],
)
async def test_only_the_pages_own_assets_are_served(gateway: GatewayFactory, query: str) -> None:
    async with gateway(graphiql=True) as http:
        answer = await http.get(f"/graphql?{query}")
        assert answer.status_code == 404


async def test_no_assets_when_graphiql_is_off(gateway: GatewayFactory) -> None:
    async with gateway(graphiql=False) as http:
        answer = await http.get("/graphql", params={"graphiql": "graphiql.min.js"})
        # Not an asset: a GraphQL GET without a query, refused as one.
        assert answer.status_code == 400
        assert answer.json()["errors"]


@pytest.fixture
async def served(gateway_settings: Callable[..., GatewaySettings]) -> AsyncIterator[str]:
    server = HttpServer(create_app(gateway_settings(graphiql=True)), "127.0.0.1", 0)
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop()


async def test_graphiql_renders_and_runs_a_query_with_nothing_from_another_host(
    served: str, browser: Browser
) -> None:
    page = await browser.new_page()
    problems = watch_console(page)
    hosts: set[str] = set()

    def on_request(request: Request) -> None:
        hosts.add(urlsplit(request.url).netloc)

    page.on("request", on_request)
    try:
        await page.goto(f"{served}/graphql")
        run = page.locator(".graphiql-execute-button")
        await expect(run).to_be_visible(timeout=30_000)
        await run.click()
        await expect(page.locator(".result-window")).to_contain_text("Query", timeout=30_000)
    finally:
        await page.close()
    assert hosts == {urlsplit(served).netloc}
    assert problems == []


async def test_graphiql_loads_the_schema_and_documents_product(
    served: str, browser: Browser
) -> None:
    """GraphiQL introspects on load: its docs pane, completion and validation need the
    standard introspection query answered."""
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    problems = watch_console(page)
    try:
        await page.goto(f"{served}/graphql")
        await page.get_by_role("button", name="Show Documentation Explorer").click()
        explorer = page.locator(".graphiql-doc-explorer")
        # The root types appear once the schema has loaded.
        await explorer.get_by_role("link", name="Query", exact=True).click(timeout=30_000)
        await explorer.get_by_role("link", name="Product", exact=True).first.click()
        await expect(page.locator(".graphiql-doc-explorer-title")).to_have_text("Product")
        await expect(explorer).to_contain_text("materializedAt")
        await screenshot(page, "graphiql-docs-product")
    finally:
        await page.close()
    assert problems == []
