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
    for command in ("dev", "materialize", "serve", "demo-traffic", "schema"):
        assert command in usage


def test_the_checked_in_schema_is_the_generated_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    generated = capsys.readouterr().out
    checked_in = (ROOT / "schema.graphql").read_text()
    assert generated == checked_in, (
        "schema.graphql drifted: run `shopwindow schema > schema.graphql`"
    )
