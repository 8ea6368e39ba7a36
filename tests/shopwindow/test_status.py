"""``shopwindow status``: every part read from real servers, an unreachable part shown
as such while the rest still prints, and the same through the command."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from shopwindow.devstack import DevStack
from shopwindow.materializer.sources import CORE
from shopwindow.settings import MaterializerSettings, StatusSettings
from shopwindow.status import Part, StatusReader, as_json, tables
from shopwindow.topics import TopicNames
from tests.helpers import eventually, produce, run_command, running_materializer
from tests.materializer.conftest import catalog, delta, price


def _closed_port() -> int:
    # A port the OS just handed out and nobody listens on.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _status_settings(settings: MaterializerSettings, **overrides: Any) -> StatusSettings:
    return StatusSettings.model_validate(
        {
            "kafka_bootstrap_servers": settings.kafka_bootstrap_servers,
            "mongodb_uri": settings.mongodb_uri.get_secret_value(),
            "mongodb_database": settings.mongodb_database,
            "topics": settings.topics,
            "materializer_group_id": settings.materializer_group_id,
            # Generous: these tests are about what is read; the timeout has tests of its
            # own, and a whole `make test` run on two cores is slow at times.
            "status_timeout_ms": 20000,
            **overrides,
        }
    )


def _command_env(settings: MaterializerSettings) -> dict[str, str]:
    # The command reads what the settings say from the environment, as an operator's.
    return {
        **os.environ,
        "SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "SHOPWINDOW_MONGODB_URI": settings.mongodb_uri.get_secret_value(),
        "SHOPWINDOW_MONGODB_DATABASE": settings.mongodb_database,
        **{f"SHOPWINDOW_TOPICS__{k.upper()}": v for k, v in settings.topics.model_dump().items()},
    }


def _by_title(parts: list[Part]) -> dict[str, Part]:
    return {part.title: part for part in parts}


async def test_every_part_reads_what_the_servers_hold(
    stack: DevStack,
    topics: TopicNames,
    materializer_settings: Callable[..., MaterializerSettings],
) -> None:
    settings = materializer_settings()
    records = [
        (topics.source("catalog", "catalog.products"), "abc", catalog("abc")),
        (topics.source("prices", "pricing.prices"), "abc", price("abc")),
        (topics.source("inventory", "inventory"), "abc", delta(5, "abc")),
        (topics.source("inventory", "inventory"), "abc", b"{not json"),
    ]
    async with running_materializer(settings, serve_http=False) as materializer:
        await produce(stack.kafka_bootstrap_servers, records)
        reader = StatusReader(
            _status_settings(settings), CORE, [f"http://127.0.0.1:{_closed_port()}"]
        )

        async def settled() -> Any:
            # Applied and committed, and the bad record's letter on the dead-letter topic.
            read = _by_title(await reader.read())
            lag = {row[1]: row[2] for row in read["Consumer lag"].rows}
            return lag.get(topics.source("inventory", "inventory")), read["Open dead letters"].rows

        await eventually(settled, lambda found: found[0] == 0 and bool(found[1]))

        parts = _by_title(await reader.read())
        assert materializer.consumer is not None
    assert parts["Serving"].rows == [(0, None, None, "-", 1)]
    lag = {(row[0], row[1]): row[2] for row in parts["Consumer lag"].rows}
    assert lag[(settings.materializer_group_id, topics.source("prices", "pricing.prices"))] == 0
    [(writes, _, _, newest)] = parts["Freshness of the newest writes"].rows
    assert writes == 1 and newest is not None
    assert parts["Open dead letters"].error is None, parts["Open dead letters"].error
    assert parts["Open dead letters"].rows == [
        (topics.source("inventory", "inventory"), "invalid JSON", 1)
    ]
    assert sum(end for _, end in parts["Changelog end offsets"].rows) >= 1
    [gateway] = [p for title, p in parts.items() if title.startswith("Gateway")]
    assert gateway.error is not None and gateway.error.startswith("unreachable")
    assert len(tables(list(parts.values()))) == len(parts)


async def test_a_broker_that_does_not_answer_leaves_mongodbs_parts_printed(
    topics: TopicNames, materializer_settings: Callable[..., MaterializerSettings]
) -> None:
    settings = _status_settings(
        materializer_settings(),
        kafka_bootstrap_servers=f"127.0.0.1:{_closed_port()}",
        status_timeout_ms=2000,
    )
    parts = _by_title(await StatusReader(settings, CORE).read())
    for kafka_part in ("Consumer lag", "Open dead letters", "Changelog end offsets"):
        assert (parts[kafka_part].error or "").startswith("unreachable"), kafka_part
    assert parts["Serving"].error is None and parts["Serving"].rows[0][0] == 0
    printed = orjson.loads(as_json(list(parts.values())))
    assert {p["title"]: "error" in p for p in printed["parts"]}["Serving"] is False


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/", "not a url", "http://[::1", "\udc00"]
)
async def test_a_gateway_url_that_is_not_http_is_refused_for_its_part_alone(
    url: str, materializer_settings: Callable[..., MaterializerSettings]
) -> None:
    reader = StatusReader(_status_settings(materializer_settings()), CORE, [url])
    parts = await reader.read()
    assert parts[-1].title.startswith("Gateway") and (parts[-1].error or "").startswith(
        "unreachable"
    )
    assert "root:" not in as_json(parts)  # Never a local file's content.
    assert parts[0].error is None


@pytest.mark.parametrize("timeout_ms", [0, 99, 120_001, -1])
def test_a_status_timeout_out_of_bounds_is_refused(timeout_ms: int) -> None:
    with pytest.raises(ValidationError, match="status_timeout_ms"):
        StatusSettings(
            kafka_bootstrap_servers="k:9092",
            mongodb_uri="mongodb://m",
            status_timeout_ms=timeout_ms,
        )


async def test_the_command_prints_tables_and_json(
    topics: TopicNames, materializer_settings: Callable[..., MaterializerSettings]
) -> None:
    env = _command_env(materializer_settings())
    code, out, err = await run_command(env, "status", "--json")
    assert code == 0, err
    titles = [part["title"] for part in orjson.loads(out)["parts"]]
    assert titles[:2] == ["Serving", "Consumer lag"]
    code, out, err = await run_command(env, "status")
    assert code == 0, err
    assert "Changelog end offsets" in out and "Serving" in out


async def test_watch_redraws_until_stopped(
    topics: TopicNames, materializer_settings: Callable[..., MaterializerSettings]
) -> None:
    env = _command_env(materializer_settings())
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shopwindow.cli",
        "status",
        "--watch",
        "--interval-s",
        "0.2",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    seen = 0
    try:
        async with asyncio.timeout(60):
            while seen < 2:
                line = await process.stdout.readline()
                assert line, "the command stopped by itself"
                seen += b"Serving" in line
    finally:
        process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), 30)
    assert code == 0
