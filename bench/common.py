"""What the benchmarks share: servers, percentiles and the printout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from shopwindow.devstack import DevStack
from shopwindow.kafka_admin import create_topics
from shopwindow.materializer.sources import CORE
from shopwindow.topics import TopicNames


@contextlib.asynccontextmanager
async def servers() -> AsyncIterator[DevStack]:
    """Kafka and MongoDB: the real ones when configured, else the stand-ins."""
    with tempfile.TemporaryDirectory(prefix="shopwindow-bench-") as root:
        async with DevStack(
            kafka_bootstrap_servers=os.environ.get("SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS"),
            mongodb_uri=os.environ.get("SHOPWINDOW_MONGODB_URI"),
            mongodb_storage_path=Path(root) / "mongodb",
            log_dir=Path(root) / "logs",
        ) as stack:
            yield stack


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def report(title: str, rows: Sequence[tuple[str, str]]) -> None:
    """Print a titled two-column table."""
    width = max(len(label) for label, _ in rows)
    print(f"\n== {title}")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


async def wait_until(condition: Callable[[], bool], interval_s: float = 0.01) -> None:
    """Poll ``condition`` until it holds."""
    while True:
        if condition():
            return
        await asyncio.sleep(interval_s)


def rss_bytes(pid: int) -> int:
    """The resident memory of process ``pid`` (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """The CPU time process ``pid`` has used, user and system (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def fresh_topics(bootstrap_servers: str, partitions: int) -> tuple[str, TopicNames]:
    """A run id and every shopwindow topic under a prefix of its own, created."""
    run_id = uuid.uuid4().hex[:8]
    topics = TopicNames().with_prefix(f"bench{run_id}.")
    await create_topics(bootstrap_servers, topics, partitions, CORE.all_topics(topics))
    return run_id, topics
