"""The chart's alerts: valid rules, each shown firing and quiet by ``promtool test
rules``, each with a runbook section, and naming only metrics the code exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helm.monitoring import (
    alert_groups,
    exported_metrics,
    promtool,
    unknown_names,
    write_rules,
)
from tests.helm.test_chart import manifests

HERE = Path(__file__).resolve().parent
OPERATING = HERE.parents[1] / "docs" / "operating.md"
UNIT_TESTS = HERE / "alerts.test.yaml"


def _alerts() -> list[dict[str, object]]:
    return [rule for group in alert_groups() for rule in group["rules"]]


def test_the_rules_are_valid_for_promtool(tmp_path: Path) -> None:
    rules = write_rules(alert_groups(), tmp_path / "rules.yaml")
    checked = subprocess.run(
        [promtool(), "check", "rules", str(rules)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    print(checked.stdout)


def test_every_alert_fires_and_stays_quiet_in_its_unit_test(tmp_path: Path) -> None:
    # promtool compares annotations too; their wording is checked below, the
    # expressions and durations here.
    groups = alert_groups()
    for group in groups:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    write_rules(groups, tmp_path / "rules.yaml")
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    tested = subprocess.run(
        [promtool(), "test", "rules", UNIT_TESTS.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    print(tested.stdout)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    text = UNIT_TESTS.read_text()
    untested = [str(r["alert"]) for r in _alerts() if f"alertname: {r['alert']}" not in text]
    assert untested == []


def test_a_broken_expectation_fails_the_unit_tests(tmp_path: Path) -> None:
    groups = alert_groups()
    for group in groups:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    write_rules(groups, tmp_path / "rules.yaml")
    wrong = UNIT_TESTS.read_text().replace("{severity: critical, instance: m1}", "{}")
    (tmp_path / UNIT_TESTS.name).write_text(wrong)
    tested = subprocess.run(
        [promtool(), "test", "rules", UNIT_TESTS.name], cwd=tmp_path, capture_output=True
    )
    assert tested.returncode != 0


def test_every_alert_says_what_is_wrong_and_links_its_runbook() -> None:
    sections = {
        re.sub(r"[^a-z0-9]", "", line.removeprefix("### ").lower())
        for line in OPERATING.read_text().splitlines()
        if line.startswith("### ")
    }
    for rule in _alerts():
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        assert annotations["summary"] and annotations["description"]
        anchor = str(annotations["runbook_url"]).rpartition("#")[2]
        assert anchor == str(rule["alert"]).lower()
        assert anchor in sections, f"docs/operating.md has no section {rule['alert']}"


def test_the_alerts_name_only_metrics_and_labels_the_code_exports() -> None:
    exported = exported_metrics()
    problems = {str(r["alert"]): unknown_names(str(r["expr"]), exported) for r in _alerts()}
    assert {alert: p for alert, p in problems.items() if p} == {}


def test_an_unknown_metric_or_label_is_found() -> None:
    exported = exported_metrics()
    assert unknown_names('sum by (topik) (shopwindow_consumer_lag{topic="x"})', exported) == [
        "by/on (topik): no metric of the expression has it"
    ]
    assert unknown_names("rate(shopwindow_no_such_total[5m])", exported) == [
        "shopwindow_no_such_total: no such metric"
    ]
    assert unknown_names('shopwindow_readiness{code="x"}', exported) == [
        "shopwindow_readiness{code}: no such label"
    ]


@pytest.mark.parametrize("enabled", [False, True])
def test_the_rule_is_rendered_only_when_enabled(enabled: bool) -> None:
    docs = manifests({"metrics": {"prometheusRule": {"enabled": enabled}}})
    assert any(d["kind"] == "PrometheusRule" for d in docs) is enabled
