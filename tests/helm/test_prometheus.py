"""A real Prometheus, with the chart's alert rules, scrapes a running materializer; the
broker is stopped, and the matching alert fires through Prometheus's HTTP API, then
resolves once the broker is back.

Each test gets stand-ins of its own (marker ``outage``): no other test sees the broker
stop. Prometheus is Debian's, which `make test` installs with promtool.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from shopwindow.devstack import DevStack
from shopwindow.settings import MaterializerSettings
from tests.helm.monitoring import NAMESPACE, alert_groups, write_rules
from tests.helpers import eventually, running_materializer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _alerts(api: httpx.AsyncClient) -> dict[str, str]:
    try:
        response = await api.get("/api/v1/alerts")
    except httpx.TransportError:
        return {}
    return {a["labels"]["alertname"]: a["state"] for a in response.json()["data"]["alerts"]}


async def _target_health(api: httpx.AsyncClient) -> list[str]:
    try:
        response = await api.get("/api/v1/targets")
    except httpx.TransportError:
        return []
    return [t["health"] for t in response.json()["data"]["activeTargets"]]


def _prometheus_config(materializer_port: int, rules: Path) -> dict[str, Any]:
    return {
        # A scrape runs the readiness checks, each bounded by 2 s while a dependency
        # hangs: the timeout leaves room for them.
        "global": {"scrape_interval": "3s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": "shopwindow-materializer",
                "scrape_timeout": "3s",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{materializer_port}"],
                        # What the ServiceMonitor's target labels give in a cluster.
                        "labels": {"namespace": NAMESPACE},
                    }
                ],
            }
        ],
    }


@pytest.mark.outage
async def test_the_not_ready_alert_fires_when_the_broker_stops_and_resolves_after(
    stack: DevStack,
    materializer_settings: Callable[..., MaterializerSettings],
    tmp_path: Path,
) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is missing; `make test` installs Debian's prometheus")
    assert stack.broker is not None
    # The chart's rules, with a short `for` so that the test need not wait 5 minutes.
    rules = write_rules(alert_groups({"for": {"notReady": "2s"}}), tmp_path / "rules.yaml")
    port = _free_port()
    async with running_materializer(materializer_settings()) as materializer:
        assert materializer.http_port is not None
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump(_prometheus_config(materializer.http_port, rules)))
        process = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as api:
                await eventually(lambda: _target_health(api), lambda h: h == ["up"], timeout_s=60)
                await eventually(
                    lambda: _alerts(api), lambda a: "ShopwindowNotReady" not in a, timeout_s=30
                )
                stack.broker.process.suspend()
                try:
                    firing = await eventually(
                        lambda: _alerts(api),
                        lambda a: a.get("ShopwindowNotReady") == "firing",
                        timeout_s=60,
                    )
                    print(f"\nPrometheus /api/v1/alerts with the broker stopped: {firing}")
                finally:
                    stack.broker.process.resume()
                await eventually(
                    lambda: _alerts(api), lambda a: "ShopwindowNotReady" not in a, timeout_s=60
                )
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
