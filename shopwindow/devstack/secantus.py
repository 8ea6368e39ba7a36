"""SecantusDB, a MongoDB wire-protocol server on WiredTiger, run as a child process."""

from __future__ import annotations

import sys
from pathlib import Path

from pymongo import AsyncMongoClient

from shopwindow.devstack.process import ManagedProcess, free_port


class SecantusServer:
    """One SecantusDB server on a free loopback port.

    Args:
        storage_path: WiredTiger home; reopened intact across restarts. ``None`` keeps
            the data in a temporary directory that goes with the process.
        log_dir: Where the server's output goes.
    """

    def __init__(self, storage_path: Path | None, log_dir: Path, host: str = "127.0.0.1") -> None:
        self.port = free_port(host)
        self.uri = f"mongodb://{host}:{self.port}/?directConnection=true"
        storage = str(storage_path) if storage_path else ":memory:"
        self.process = ManagedProcess(
            "secantusdb",
            [
                sys.executable,
                "-m",
                "secantus",
                "--host",
                host,
                "--port",
                str(self.port),
                "--storage-path",
                storage,
                "--log-level",
                "WARNING",
            ],
            log_dir / "secantusdb.log",
        )

    async def _answers_ping(self) -> bool:
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            self.uri, serverSelectionTimeoutMS=1000
        )
        try:
            await client.admin.command("ping")
            return True
        finally:
            await client.close()

    async def start(self) -> None:
        """Start the server and wait until it answers a ping."""
        await self.process.start(self._answers_ping)

    async def stop(self) -> None:
        """Stop the server; on-disk data stays for the next start."""
        await self.process.stop()
