"""Headless Chromium for the storefront's test and benchmark.

Debian's chromium (``make test`` installs it when missing), driven by Playwright for
Python: Playwright's own browser download cannot reach its host from here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator

from playwright.async_api import Browser, async_playwright

# The machine's network is closed: without these, Chromium keeps trying to reach Google
# (updates, safe browsing, sync) and logs every refusal. No sandbox: tests run as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class ChromiumMissing(Exception):
    """No browser to drive."""


def chromium_path() -> str:
    """The browser: ``SHOPWINDOW_TEST_CHROMIUM``, or Debian's chromium on the PATH.

    Raises:
        ChromiumMissing: When there is neither.
    """
    found = os.environ.get("SHOPWINDOW_TEST_CHROMIUM") or shutil.which("chromium")
    if not found:
        raise ChromiumMissing("Chromium is missing; `make test` installs Debian's chromium")
    return found


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A started headless Chromium, closed on exit."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()
