"""The ``shopwindow`` command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopwindow.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def test_every_command_is_documented(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    usage = capsys.readouterr().out
    for command in ("dev", "materialize", "serve", "demo-traffic", "produce", "schema"):
        assert command in usage


def test_the_schema_command_prints_the_core_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == (ROOT / "schema.graphql").read_text()


def test_the_schema_with_extensions_is_the_composed_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for example in ("promotions", "similar_products"):
        monkeypatch.syspath_prepend(str(ROOT / "examples" / example))
    monkeypatch.setenv(
        "SHOPWINDOW_EXTENSIONS",
        "shopwindow_promotions:extension,shopwindow_similar_products:extension",
    )
    assert main(["schema", "--with-extensions"]) == 0
    composed = capsys.readouterr().out
    assert "promotions: [Promotion!]!" in composed
    assert "similarProducts(first: Int! = 4): [Product!]!" in composed
    assert "type Promotion {" in composed
    assert composed.replace("promotions", "") != (ROOT / "schema.graphql").read_text()


def test_a_broken_extension_is_a_configuration_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPWINDOW_EXTENSIONS", "no_such_module:extension")
    assert main(["schema", "--with-extensions"]) == 2
    assert "no_such_module" in capsys.readouterr().err
