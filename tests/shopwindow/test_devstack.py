"""The embedded stand-ins start, answer and leave no process behind."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from pathlib import Path

from shopwindow.devstack import DevStack
from shopwindow.materializer.sources import CORE
from shopwindow.topics import TopicNames


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


async def wait_dead(pids: list[int], timeout_s: float = 15) -> list[int]:
    for _ in range(int(timeout_s * 10)):
        left = [pid for pid in pids if alive(pid)]
        if not left:
            return []
        await asyncio.sleep(0.1)
    return [pid for pid in pids if alive(pid)]


async def test_a_stack_starts_creates_topics_and_stops(tmp_path: Path) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    topics = TopicNames().with_prefix("devstack.")
    stack = DevStack(
        kafka_bootstrap_servers=None,
        mongodb_uri=None,
        mongodb_storage_path=tmp_path / "db",
        log_dir=tmp_path / "logs",
        topics=topics,
        partitions=2,
    )
    async with stack:
        assert stack.broker and stack.database
        pids = [stack.broker.process.pid, stack.database.process.pid]
        admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap_servers)
        await admin.start()
        try:
            assert set(CORE.all_topics(topics)) <= set(await admin.list_topics())
        finally:
            await admin.close()
    assert await wait_dead([pid for pid in pids if pid]) == []


SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from shopwindow.devstack import DevStack

    async def main():
        stack = DevStack(kafka_bootstrap_servers=None, mongodb_uri=None,
                         mongodb_storage_path=None, log_dir=Path(sys.argv[1]))
        await stack.start()
        print(stack.broker.process.pid, stack.database.process.pid, flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


async def test_no_server_outlives_a_killed_parent(tmp_path: Path) -> None:
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SCRIPT, str(tmp_path), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert parent.stdout is not None
        line = await asyncio.wait_for(parent.stdout.readline(), 60)
        pids = [int(pid) for pid in line.split()]
        assert len(pids) == 2 and all(alive(pid) for pid in pids)
        parent.send_signal(signal.SIGKILL)  # No cleanup code runs: only the kernel can help.
        await parent.wait()
        assert await wait_dead(pids) == []
    finally:
        if parent.returncode is None:
            parent.kill()
            await parent.wait()
