"""Logs: JSON lines for machines, readable text on a terminal, and the dev banner."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from shopwindow.dev import banner, without_password
from shopwindow.logs import JsonFormatter, TextFormatter, setup_logging


def record(**extra: object) -> logging.LogRecord:
    made = logging.makeLogRecord(
        {"name": "shopwindow.x", "levelname": "WARNING", "msg": "hello %s", "args": ("you",)}
    )
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def test_text_is_one_readable_line_with_the_extra_fields() -> None:
    line = TextFormatter(color=False).format(record(product="abc", offset=7))
    assert line.endswith("WARNING shopwindow.x: hello you  product=abc offset=7")
    assert "\x1b[" not in line


def test_text_on_a_terminal_colors_the_level_and_keeps_tracebacks() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        failing = record(exc_info=sys.exc_info())
    text = TextFormatter(color=True).format(failing)
    assert "\x1b[33mWARNING" in text and "ValueError: boom" in text


def test_json_keeps_every_extra_field() -> None:
    entry = json.loads(JsonFormatter().format(record(product="abc")))
    assert entry["msg"] == "hello you" and entry["product"] == "abc"


@pytest.mark.parametrize(
    ("log_format", "expected"), [("json", JsonFormatter), ("text", TextFormatter)]
)
def test_the_format_setting_chooses_the_formatter(
    log_format: str, expected: type[logging.Formatter]
) -> None:
    root = logging.getLogger()  # tests/conftest.py puts it back afterwards.
    setup_logging("INFO", log_format)
    assert isinstance(root.handlers[0].formatter, expected)
    # Under pytest stderr is not a terminal: auto means JSON.
    setup_logging("INFO", "auto")
    assert isinstance(root.handlers[0].formatter, JsonFormatter)


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("mongodb://127.0.0.1:27017", "mongodb://127.0.0.1:27017"),
        ("mongodb://u:p%40ss@h1:1,h2:2/db?x=1", "mongodb://u:***@h1:1,h2:2/db?x=1"),
        ("mongodb+srv://user:pw@cluster/db", "mongodb+srv://user:***@cluster/db"),
        ("mongodb://user@h/db", "mongodb://user@h/db"),
    ],
)
def test_the_banner_never_shows_a_password(uri: str, shown: str) -> None:
    assert without_password(uri) == shown
    assert shown in banner("http://h:1/graphql", "k:9092", uri)


def test_the_banner_says_how_to_send_an_event_and_see_it() -> None:
    text = banner("http://h:1/graphql", "k:9092", "mongodb://m:1")
    assert text.splitlines()[0].startswith("shopwindow is up. GraphQL: http://h:1/graphql")
    assert "SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS=k:9092" in text and "produce inventory" in text
    assert "curl -s http://h:1/graphql" in text
    assert "Storefront: http://h:1/\n" in text
    status = next(line for line in text.splitlines() if " status " in line).strip()
    assert status.startswith("SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS=k:9092 ")
    assert "SHOPWINDOW_MONGODB_URI=mongodb://m:1 " in status
    assert status.endswith(" status --watch --gateways http://h:1")


def test_the_status_command_quotes_what_the_shell_would_split() -> None:
    text = banner("http://h:1/graphql", "k:9092", "mongodb://u:s3cret@h:1/db?a=1&b=$x")
    status = next(line for line in text.splitlines() if " status " in line)
    assert "SHOPWINDOW_MONGODB_URI='mongodb://u:***@h:1/db?a=1&b=$x'" in status
    assert "s3cret" not in status
