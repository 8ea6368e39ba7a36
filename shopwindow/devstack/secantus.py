"""SecantusDB, a MongoDB wire-protocol server on WiredTiger, run as a child process."""

from __future__ import annotations

import sys
from pathlib import Path

from pymongo import AsyncMongoClient

from shopwindow.devstack.process import ManagedProcess


class SecantusServer:
    """One SecantusDB server on a free loopback port.

    Args:
        storage_path: WiredTiger home; reopened intact across restarts. ``None`` keeps
            the data in a temporary directory that goes with the process.
        log_dir: Where the server's output goes.
    """

    def __init__(self, storage_path: Path | None, log_dir: Path, host: str = "127.0.0.1") -> None:
        self._host = host
        storage = str(storage_path) if storage_path else ":memory:"

        def argv(port: int) -> list[str]:
            return [
                sys.executable,
                "-m",
                "secantus",
                "--host",
                host,
                "--port",
                str(port),
                "--storage-path",
                storage,
                "--log-level",
                "WARNING",
            ]

        self.process = ManagedProcess("secantusdb", argv, log_dir / "secantusdb.log", host)

    @property
    def uri(self) -> str:
        """The connection string, once started."""
        if self.process.port is None:
            raise RuntimeError("start() the server first")
        return self._uri(self.process.port)

    def _uri(self, port: int) -> str:
        return f"mongodb://{self._host}:{port}/?directConnection=true"

    async def _answers_ping(self, port: int) -> bool:
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            self._uri(port), serverSelectionTimeoutMS=5000
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
