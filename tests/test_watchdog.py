"""The watchdog fails a hung async test with the stack of what it waits for."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent

HUNG = """
import asyncio
import contextlib
import pytest

async def wait_for_a_reply_that_never_comes():
    await asyncio.Event().wait()

@pytest.mark.bound(0.5)
async def test_hangs():
    await wait_for_a_reply_that_never_comes()

async def stop_a_server_that_never_stops():
    await asyncio.Event().wait()

@contextlib.asynccontextmanager
async def server():
    try:
        yield
    finally:
        await stop_a_server_that_never_stops()

@pytest.mark.bound(0.5)
async def test_hangs_leaving_a_context():
    async with server():
        pass

@pytest.mark.bound(5)
async def test_its_own_timeout_stays_its_own():
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await asyncio.Event().wait()

async def test_in_time():
    await asyncio.sleep(0)
"""


def test_a_hung_test_fails_in_time_naming_the_await(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makepyfile(test_hung=HUNG)
    result = pytester.runpytest_subprocess(
        "-p",
        "tests.watchdog",
        "-o",
        "asyncio_mode=auto",
        "-o",
        "markers=bound(seconds): the test's bound",
        timeout=60,
    )
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*test_hangs *",
            "*still running after 0.5 s*",
            "*wait_for_a_reply_that_never_comes*",
            "*test_hangs_leaving_a_context*",
            "*still running after 0.5 s*",
            "*in server*",
            "*stop_a_server_that_never_stops*",
        ]
    )
