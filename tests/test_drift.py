"""Generated files match the code they are derived from.

``schema.graphql`` comes from the schema; the chart's topic entries (values, values
schema, configmap) and the README's topic tables come from the source registry. Run
``make generate`` after changing a source, then commit what it wrote.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from shopwindow.generated import ROOT, render
from shopwindow.materializer.sources import CORE, RegistryError, SourceRegistry
from shopwindow.materializer.sources.base import SourceTopic
from shopwindow.settings import MaterializerSettings
from shopwindow.topics import TopicNames

RENDERED = render()


@pytest.mark.parametrize("path", sorted(RENDERED), ids=str)
def test_the_checked_in_file_is_what_the_code_derives(path: Path) -> None:
    assert (ROOT / path).read_text() == RENDERED[path], f"{path} drifted: run `make generate`"


@pytest.mark.parametrize("topic", CORE.topics, ids=lambda t: t.setting)
def test_every_source_topic_is_a_setting(
    topic: SourceTopic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"SHOPWINDOW_TOPICS__{topic.setting.upper()}", "renamed")
    settings = MaterializerSettings(kafka_bootstrap_servers="k:9092", mongodb_uri="mongodb://m")
    assert topic.name_in(settings.topics) == "renamed"
    assert "renamed" in CORE.topic_names(settings.topics)


def test_a_topic_setting_no_source_declares_fails_fast() -> None:
    with pytest.raises(RegistryError, match="SHOPWINDOW_TOPICS__CATALOGUE names no installed"):
        CORE.topic_names(TopicNames(catalogue="x"))


def test_two_sources_cannot_claim_one_section() -> None:
    with pytest.raises(RegistryError, match="section 'catalog' is taken"):
        SourceRegistry([*CORE.sources, CORE.sources[0]])


# The application shell: commands, the dev stack, demo traffic, generated files.
SHELL = (
    "cli",
    "dev",
    "devstack",
    "demo_events",
    "demo_traffic",
    "generated",
    "produce",
    "standins",
    "dlq",
    "dead_letters",
)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _package_files() -> list[Path]:
    package = ROOT / "shopwindow"
    return [
        path
        for path in package.rglob("*.py")
        if "gateway" not in path.parts and "materializer" not in path.parts
    ] + [*(ROOT / "gateway").rglob("*.py"), *(ROOT / "materializer").rglob("*.py")]


def _is(module: str, names: tuple[str, ...]) -> bool:
    return any(module == f"shopwindow.{n}" or module.startswith(f"shopwindow.{n}.") for n in names)


def test_the_kernel_and_the_roles_never_import_the_shell() -> None:
    offenders = []
    for path in _package_files():
        relative = path.relative_to(ROOT)
        dotted = ".".join(relative.with_suffix("").parts)
        if _is(f"shopwindow.{dotted.removeprefix('shopwindow.')}", SHELL):
            continue
        offenders += [f"{relative} imports {m}" for m in _imports(path) if _is(m, SHELL)]
    assert offenders == []
