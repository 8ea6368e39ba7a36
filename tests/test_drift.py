"""Generated files match the code they are derived from.

``schema.graphql`` comes from the schema; the chart's topic entries (values, values
schema, configmap) and the docs' topic tables come from the source registry. Run
``make generate`` after changing a source, then commit what it wrote.
"""

from __future__ import annotations

import ast
import subprocess
import sys
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
    "status",
    "vendor_graphiql",
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


# The gateway's folders, lowest first: a module may import its own folder and the
# folders before it, never one after. The root modules errors and metrics are below
# every folder, app above them all. A folder's __init__ lists in __all__ the modules
# other folders may import.
GATEWAY_LAYERS = (
    ("errors", "metrics"),
    ("reads",),
    ("search",),
    ("cost",),
    ("execution",),
    ("schema",),
    ("federation",),
    ("live",),
    ("storefront", "graphiql"),
    ("transport",),
    ("app",),
)
_LAYER_OF = {name: rank for rank, names in enumerate(GATEWAY_LAYERS) for name in names}


def _run_time_imports(source: str) -> set[str]:
    # Imports under `if TYPE_CHECKING:` load nothing at run time: they do not count.
    tree = ast.parse(source)
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _gateway_place(dotted: str) -> tuple[str, str | None] | None:
    # "shopwindow.gateway.reads.loaders" -> ("reads", "loaders"); the root's modules
    # ("shopwindow.gateway.errors") are their own folder.
    parts = dotted.split(".")
    if parts[:2] != ["shopwindow", "gateway"] or len(parts) < 3:
        return None
    return parts[2], parts[3] if len(parts) > 3 else None


def layering_offences(files: dict[str, str] | None = None) -> list[str]:
    """Every import in gateway/ against the order of GATEWAY_LAYERS or past a folder's
    __all__; ``files`` (relative path -> source) stands in for the tree in tests."""
    gateway = ROOT / "gateway"
    sources = files or {
        str(path.relative_to(ROOT)): path.read_text() for path in gateway.rglob("*.py")
    }
    public = {
        folder.name: set(ast.literal_eval(_all_of(folder / "__init__.py")))
        for folder in gateway.iterdir()
        if (folder / "__init__.py").exists()
    }
    offences = []
    for relative, text in sorted(sources.items()):
        parts = Path(relative).with_suffix("").parts[1:]
        own = parts[0] if parts[0] != "__init__" else "app"
        for module in sorted(_run_time_imports(text)):
            place = _gateway_place(module)
            if place is None or place[0] == own:
                continue
            folder, name = place
            if folder not in _LAYER_OF:
                continue  # A name imported from the package itself.
            if _LAYER_OF[folder] > _LAYER_OF.get(own, 0):
                offences.append(f"{relative} ({own}) imports {module} ({folder}, above it)")
            elif folder in public and name is not None and name not in public[folder]:
                offences.append(f"{relative} imports {module}, not in {folder}'s __all__")
    return sorted(set(offences))


def _all_of(init: Path) -> str:
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return ast.unparse(node.value)
    raise AssertionError(f"{init} lists no __all__")


def test_every_gateway_folder_says_what_it_is_for_and_what_it_exports() -> None:
    for init in sorted((ROOT / "gateway").glob("*/__init__.py")):
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init} has no docstring"
        assert _all_of(init)


def test_gateway_imports_follow_the_order_of_its_folders() -> None:
    assert layering_offences() == []


def test_an_import_against_the_order_is_an_offence() -> None:
    # A read reaching up into the transports, and a transport reaching past __all__.
    wrong = {
        "gateway/reads/wrong.py": "from shopwindow.gateway.transport.graphql_http import X\n",
        "gateway/transport/wrong.py": "from shopwindow.gateway.reads.loaders import X\n"
        "from shopwindow.gateway.execution.plan_run import Y\n",
        "gateway/cost/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from shopwindow.gateway.live.fanout import FanOut\n",
    }
    assert layering_offences(wrong) == [
        "gateway/reads/wrong.py (reads) imports shopwindow.gateway.transport.graphql_http "
        "(transport, above it)",
        "gateway/reads/wrong.py (reads) imports shopwindow.gateway.transport.graphql_http.X "
        "(transport, above it)",
        "gateway/transport/wrong.py imports shopwindow.gateway.execution.plan_run, not in "
        "execution's __all__",
        "gateway/transport/wrong.py imports shopwindow.gateway.execution.plan_run.Y, not in "
        "execution's __all__",
    ]


def test_importing_the_materializer_loads_no_gateway_module() -> None:
    # A source declares its GraphQL fields through the kernel (shopwindow.product_type,
    # shopwindow.cost_directives), never through the gateway's run-time context.
    probe = (
        "import shopwindow.materializer.service, sys; "
        "print(sorted(m for m in sys.modules if m.startswith('shopwindow.gateway')))"
    )
    printed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT.parent
    ).stdout
    assert printed.strip() == "[]"
