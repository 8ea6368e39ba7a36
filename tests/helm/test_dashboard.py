"""The chart's Grafana dashboard: shipped as a ConfigMap for Grafana's sidecar when
enabled, and every query parses and names only metrics and labels the code exports."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.helm.monitoring import (
    DASHBOARD,
    dashboard_queries,
    exported_metrics,
    promtool,
    unknown_names,
    write_rules,
)
from tests.helm.test_chart import manifests

# What an operator looks at first, each a panel of its own.
ASKED_FOR = (
    "shopwindow_freshness_seconds_bucket",
    "shopwindow_consumer_lag",
    "shopwindow_batch_records_bucket",
    "shopwindow_write_seconds_bucket",
    "shopwindow_events_dead_lettered_total",
    "shopwindow_graphql_requests_total",
    "shopwindow_graphql_request_seconds_bucket",
    "shopwindow_document_cache_lookups_total",
    "shopwindow_response_cache_lookups_total",
    "shopwindow_live_groups",
    "shopwindow_live_executions",
    "shopwindow_live_members",
    "shopwindow_live_pushes",
    'code="RATE_LIMITED"',
)


def test_every_query_names_only_metrics_and_labels_the_code_exports() -> None:
    exported = exported_metrics()
    queries = dashboard_queries()
    assert {q: unknown_names(q, exported) for q in queries if unknown_names(q, exported)} == {}
    for wanted in ASKED_FOR:
        assert any(wanted in q for q in queries), wanted


def test_every_query_parses_with_promtool(tmp_path: Path) -> None:
    # promtool parses rule expressions: each query becomes a recording rule.
    rules = [
        {"record": f"shopwindow:panel_{n}", "expr": q} for n, q in enumerate(dashboard_queries())
    ]
    path = write_rules([{"name": "dashboard", "rules": rules}], tmp_path / "dashboard.yaml")
    checked = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_configmap_carries_the_dashboard_for_grafanas_sidecar() -> None:
    assert not [d for d in manifests({}) if d["metadata"]["name"].endswith("-dashboard")]
    docs = manifests({"metrics": {"dashboard": {"enabled": True, "namespace": "grafana"}}})
    [configmap] = [d for d in docs if d["metadata"]["name"] == "shop-shopwindow-dashboard"]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["namespace"] == "grafana"
    assert json.loads(configmap["data"]["shopwindow.json"]) == json.loads(DASHBOARD.read_text())
