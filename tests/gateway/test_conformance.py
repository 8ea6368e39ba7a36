"""The public graphql-http audit (npm ``graphql-http``) against a running gateway:
every MUST, SHOULD and MAY of GraphQL over HTTP that the audit checks."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from tests.gateway.conftest import GatewayFactory

SUITES = Path(__file__).resolve().parents[1] / "conformance"


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
