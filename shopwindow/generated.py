"""Files derived from the code: the GraphQL contract and every list of source topics.

``schema.graphql`` and ``subgraph.graphql`` are printed from the schemas. The topic
entries of the Helm chart (values, values schema, configmap) and the docs' tables of
topics are rendered from the source registry between ``BEGIN generated`` / ``END
generated`` markers. ``make generate`` writes them; ``tests/test_drift.py`` fails when
a checked-in file differs from what this module renders.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from shopwindow.materializer.sources import CORE, SourceRegistry
from shopwindow.topics import TopicNames

ROOT = Path(__file__).resolve().parent.parent
CHART = Path("helm/shopwindow")
# The pages of docs/ whose tables are derived from the source registry.
CONFIGURATION_PAGE = Path("docs/configuration.md")
SOURCE_EVENTS_PAGE = Path("docs/source-events.md")


def helm_key(setting: str) -> str:
    """The chart's camelCase key of a topic setting (``dead_letter`` -> ``deadLetter``)."""
    head, *rest = setting.split("_")
    return head + "".join(part.title() for part in rest)


def _outputs() -> list[tuple[str, str, str]]:
    fields = TopicNames.model_fields
    return [
        ("changelog", str(fields["changelog"].default), "Compacted changelog of the documents"),
        ("dead_letter", str(fields["dead_letter"].default), "Dead-letter topic"),
        (
            "dead_letter_resolved",
            str(fields["dead_letter_resolved"].default),
            "Compacted: which dead letters were replayed or discarded (shopwindow dlq)",
        ),
        (
            "progress",
            str(fields["progress"].default),
            "Compacted: per source partition, the offset up to which records are applied",
        ),
    ]


def _topics(registry: SourceRegistry) -> list[tuple[str, str, str]]:
    inputs = [
        (t.setting, t.default_name, t.description[0].upper() + t.description[1:])
        for t in registry.topics
    ]
    return [*inputs, *_outputs()]


def values_block(registry: SourceRegistry) -> str:
    """The ``topics:`` entries of ``values.yaml``."""
    return "".join(
        f"  ## @param topics.{helm_key(setting)} {description}\n  {helm_key(setting)}: {name}\n"
        for setting, name, description in _topics(registry)
    )


def configmap_block(registry: SourceRegistry) -> str:
    """The ``SHOPWINDOW_TOPICS__*`` entries of the configmap."""
    return "".join(
        f"  SHOPWINDOW_TOPICS__{setting.upper()}: "
        f"{{{{ .Values.topics.{helm_key(setting)} | quote }}}}\n"
        for setting, _, _ in _topics(registry)
    )


def readme_topics_block(registry: SourceRegistry) -> str:
    """The configuration page's table of topic settings."""
    rows = "".join(
        f"| `SHOPWINDOW_TOPICS__{setting.upper()}` | `{name}` | {description} |\n"
        for setting, name, description in _topics(registry)
    )
    return "| variable | default | carries |\n|---|---|---|\n" + rows


def readme_events_block(registry: SourceRegistry) -> str:
    """The source events page's table: what each topic's records look like."""
    rows = "".join(
        f"| `{topic.default_name}` | "
        + ", ".join(f"`{name}`" for name in registry.source_of(topic).fields)
        + f" | {topic.shape} |\n"
        for topic in registry.topics
    )
    return "| topic | sections | value |\n|---|---|---|\n" + rows


def _replace_marked(text: str, name: str, block: str, comment: Callable[[str], str]) -> str:
    begin = re.escape(comment(f"BEGIN generated: {name} (make generate)"))
    end = re.escape(comment(f"END generated: {name}"))
    pattern = re.compile(rf"(?P<begin>[ \t]*{begin}\n).*?(?P<end>[ \t]*{end})", re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"no markers for the generated {name!r} block")
    return pattern.sub(lambda m: m["begin"] + block + m["end"], text, count=1)


def _yaml(marker: str) -> str:
    return f"# {marker}"


def _markdown(marker: str) -> str:
    return f"<!-- {marker} -->"


def _values_schema(text: str, registry: SourceRegistry) -> str:
    schema = json.loads(text)
    schema["properties"]["topics"]["properties"] = {
        helm_key(setting): {"type": "string", "minLength": 1, "description": description}
        for setting, _, description in _topics(registry)
    }
    return json.dumps(schema, indent=2) + "\n"


def render(root: Path = ROOT, registry: SourceRegistry = CORE) -> dict[Path, str]:
    """Every derived file as it should read, by its path under ``root``."""
    from shopwindow.gateway.federation.subgraph import build_subgraph_schema
    from shopwindow.gateway.schema.build import build_schema

    configuration = (root / CONFIGURATION_PAGE).read_text()
    configuration = _replace_marked(
        configuration, "topics", readme_topics_block(registry), _markdown
    )
    events = (root / SOURCE_EVENTS_PAGE).read_text()
    events = _replace_marked(events, "source events", readme_events_block(registry), _markdown)
    values = (root / CHART / "values.yaml").read_text()
    configmap = (root / CHART / "templates" / "configmap.yaml").read_text()
    schema_json = (root / CHART / "values.schema.json").read_text()
    return {
        Path("schema.graphql"): build_schema().as_str() + "\n",
        Path("subgraph.graphql"): build_subgraph_schema().as_str() + "\n",
        CONFIGURATION_PAGE: configuration,
        SOURCE_EVENTS_PAGE: events,
        CHART / "values.yaml": _replace_marked(values, "topics", values_block(registry), _yaml),
        CHART / "templates" / "configmap.yaml": _replace_marked(
            configmap, "topics", configmap_block(registry), _yaml
        ),
        CHART / "values.schema.json": _values_schema(schema_json, registry),
    }


def main(argv: list[str] | None = None) -> int:
    """Write the derived files (``--check``: only report those that differ)."""
    parser = argparse.ArgumentParser(prog="python -m shopwindow.generated")
    parser.add_argument("--check", action="store_true", help="exit 1 if a file differs")
    args = parser.parse_args(argv)
    stale = []
    for path, text in render().items():
        if (ROOT / path).read_text() != text:
            stale.append(path)
            if not args.check:
                (ROOT / path).write_text(text)
    for path in stale:
        print(f"{'differs' if args.check else 'wrote'}: {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
