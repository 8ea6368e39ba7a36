"""A source from an extension shows up in every derived list of topics."""

from __future__ import annotations

from pathlib import Path

from shopwindow_promotions import extension

from shopwindow.generated import render
from shopwindow.materializer.sources import CORE, SourceRegistry


def test_a_new_source_changes_every_derived_list() -> None:
    derived = render(registry=SourceRegistry([*CORE.sources, *extension.sources]))
    for path in (
        "docs/configuration.md",
        "docs/source-events.md",
        "helm/shopwindow/values.yaml",
        "helm/shopwindow/values.schema.json",
    ):
        assert "promotions" in derived[Path(path)], path
    configmap = derived[Path("helm/shopwindow/templates/configmap.yaml")]
    assert "SHOPWINDOW_TOPICS__PROMOTIONS: {{ .Values.topics.promotions | quote }}" in configmap
