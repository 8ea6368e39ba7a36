"""What the chart's alerts and dashboard ask of Prometheus, and what the code exports.

Shared by the alert tests, the dashboard test and the real-Prometheus test: the alert
rules as the chart renders them, the dashboard's queries, and every metric either role
really exports, with its labels.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from shopwindow.gateway.metrics import GatewayMetrics
from shopwindow.materializer.metrics import MaterializerMetrics
from shopwindow.probes import probe_routes
from tests.helm.test_chart import CHART, manifests

NAMESPACE = "retail"
# Labels Prometheus adds to every scraped series (the ServiceMonitor's target labels).
TARGET_LABELS = frozenset({"namespace", "instance", "job", "pod", "service"})
DASHBOARD = CHART / "dashboards" / "shopwindow.json"


def promtool() -> str:
    """The promtool binary; `make test` installs Debian's prometheus when it is missing."""
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing; `make test` installs Debian's prometheus")
    return found


def alert_groups(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The rule groups of the PrometheusRule the chart renders (alerts on)."""
    chosen = {"metrics": {"prometheusRule": {"enabled": True}}}
    for key, value in (values or {}).items():
        chosen["metrics"]["prometheusRule"][key] = value
    [rule] = [doc for doc in manifests(chosen) if doc["kind"] == "PrometheusRule"]
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def write_rules(groups: list[dict[str, Any]], path: Path) -> Path:
    """A Prometheus rule file of ``groups``, as promtool and Prometheus read it."""
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def dashboard_queries() -> list[str]:
    """Every PromQL expression of the dashboard's panels."""
    board = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in board["panels"] for target in panel.get("targets", ())]


def exported_metrics() -> dict[str, frozenset[str]]:
    """Every series name either role exports, with its label names (histograms and
    counters by the names Prometheus stores: ``_bucket``, ``_total``, ...)."""
    registry = CollectorRegistry()
    GatewayMetrics(registry)
    MaterializerMetrics(registry)

    async def ready() -> list[str]:
        return []

    probe_routes(ready, registry)
    found: dict[str, frozenset[str]] = {}
    # The metric objects themselves: a labelled metric with no child yet has no sample.
    for collector in list(registry._collector_to_names):
        labels = frozenset(getattr(collector, "_labelnames", ()))
        for name in registry._collector_to_names[collector]:
            found[name] = labels | ({"le"} if name.endswith("_bucket") else frozenset())
    return found


_SELECTOR = re.compile(r"(shopwindow_[a-z0-9_]+)(\{[^}]*\})?")
_GROUPING = re.compile(r"\b(?:by|on|without|ignoring)\s*\(([^)]*)\)")


def unknown_names(expr: str, exported: dict[str, frozenset[str]]) -> list[str]:
    """The metrics and labels ``expr`` names that no role exports."""
    problems = []
    used_labels: set[str] = set()
    for name, matchers in _SELECTOR.findall(expr):
        if name not in exported:
            problems.append(f"{name}: no such metric")
            continue
        used_labels |= exported[name]
        for label in re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matchers):
            if label not in exported[name] | TARGET_LABELS:
                problems.append(f"{name}{{{label}}}: no such label")
    for group in _GROUPING.findall(expr):
        for label in filter(None, (part.strip() for part in group.split(","))):
            if label not in used_labels | TARGET_LABELS:
                problems.append(f"by/on ({label}): no metric of the expression has it")
    return problems
