"""Public suites and reference clients (npm) against a running gateway: the
graphql-http audit (every MUST, SHOULD and MAY of GraphQL over HTTP it checks) and the
reference graphql-ws client."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests import kinds
from tests.gateway.changelog_source import Source
from tests.gateway.conftest import GatewayFactory, full_product
from tests.helpers import eventually
from tests.materializer.conftest import delta

SUITES = Path(__file__).resolve().parents[2] / "conformance"


async def test_the_graphql_http_audit_passes_without_warnings(
    gateway: GatewayFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed for the conformance suites"
    assert (SUITES / "node_modules" / "graphql-http").is_dir(), (
        "the audit is not installed: `make test` installs it with npm ci"
    )
    async with gateway() as http:
        audit = await asyncio.create_subprocess_exec(
            node,
            str(SUITES / "audit.mjs"),
            f"http://127.0.0.1:{http.base_url.port}/graphql",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(audit.communicate(), 120)
    assert audit.returncode == 0, err.decode()
    report = json.loads(out)
    counts = report["counts"]
    with capsys.disabled():
        print(
            f"\ngraphql-http audit: {counts['ok']} ok, {counts['notice']} notices, "
            f"{counts['warn']} warnings, {counts['error']} errors"
        )
    assert report["problems"] == []
    assert counts["ok"] > 0


async def test_the_reference_graphql_ws_client_follows_a_product_until_it_is_hidden(
    source: Source, gateway: GatewayFactory
) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed for the conformance suites"
    await source.apply("abc", *full_product("abc"))
    async with gateway() as http:
        await eventually(lambda: http.get("/readyz"), lambda r: r.status_code == 200)
        client = await asyncio.create_subprocess_exec(
            node,
            str(SUITES / "graphql_ws_client.mjs"),
            f"ws://127.0.0.1:{http.base_url.port}/graphql",
            "abc",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert client.stdout is not None
        try:
            lines = [json.loads(await asyncio.wait_for(client.stdout.readline(), 20))]
            lines.append(json.loads(await asyncio.wait_for(client.stdout.readline(), 20)))
            await source.apply("abc", (kinds.INVENTORY, delta(-1, minutes=1)))
            lines.append(json.loads(await asyncio.wait_for(client.stdout.readline(), 20)))
            await source.apply("abc", (kinds.CATALOG, None))  # Hidden.
            lines.append(json.loads(await asyncio.wait_for(client.stdout.readline(), 20)))
            _, err = await asyncio.wait_for(client.communicate(), 20)
        finally:
            if client.returncode is None:
                client.kill()
                await client.wait()
    assert client.returncode == 0, err.decode()
    by_op: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_op.setdefault(line["op"], []).append(line)
    [refused] = by_op["refused"]
    assert refused["error"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    stock = [line.get("next", line) for line in by_op["stock"]]
    assert stock == [
        {"data": {"stockChanged": {"productId": "abc", "version": 4, "stock": {"available": 3}}}}
        | {"extensions": stock[0]["extensions"]},
        {"data": {"stockChanged": {"productId": "abc", "version": 5, "stock": {"available": 2}}}}
        | {"extensions": stock[1]["extensions"]},
        {"op": "stock", "complete": True},
    ]
