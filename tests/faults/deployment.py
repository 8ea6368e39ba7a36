"""A whole deployment on this machine, with a fault proxy on every link.

Kafka and MongoDB are stand-ins this process starts (a fault test suspends, kills and
restarts them, so never servers someone else runs). Every client reaches Kafka through
one proxy, which the broker advertises as its address; each role reaches MongoDB
through a proxy of its own. Two materializers and two gateways run as processes of
their own, as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from shopwindow.devstack.process import free_port
from shopwindow.devstack.secantus import SecantusServer
from shopwindow.devstack.tansu import TansuBroker
from shopwindow.topics import TopicNames
from tests.faults.proxy import FaultProxy

ROLES = ("materializer", "gateway")


class Servers:
    """The broker and the database, and the proxies in front of them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.kafka_proxy = FaultProxy(
            lambda: ("127.0.0.1", self._port(self.broker.process.spawned_port))
        )
        self.mongo_proxies = {
            role: FaultProxy(lambda: ("127.0.0.1", self._port(self.database.process.spawned_port)))
            for role in ROLES
        }
        self.broker: TansuBroker
        self.database = SecantusServer(root / "mongodb", root / "logs")

    @staticmethod
    def _port(port: int | None) -> int:
        if port is None:
            raise ConnectionRefusedError("server not started")
        return port

    async def start(self) -> None:
        """Start the proxies, then the servers behind them."""
        await self.kafka_proxy.start()
        for proxy in self.mongo_proxies.values():
            await proxy.start()
        self.broker = TansuBroker(self.root / "logs", advertised_address=self.kafka_proxy.address)
        await self.broker.start()
        await self.database.start()

    async def stop(self) -> None:
        """Stop everything this started."""
        await self.broker.stop()
        await self.database.stop()
        for proxy in (self.kafka_proxy, *self.mongo_proxies.values()):
            await proxy.stop()

    @property
    def kafka_bootstrap_servers(self) -> str:
        """Through the proxy, as every client connects."""
        return self.kafka_proxy.address

    @property
    def direct_mongodb_uri(self) -> str:
        """Past the proxies: for the harness's own reads and the clean pass."""
        return self.database.uri

    def mongodb_uri(self, role: str) -> str:
        """Through the role's proxy."""
        return f"mongodb://{self.mongo_proxies[role].address}/?directConnection=true"

    async def kill_database(self) -> None:
        """SIGKILL MongoDB: no cleanup runs."""
        await self.database.process.kill()

    async def restart_database(self) -> None:
        """Start MongoDB again on its data and its port."""
        await self.database.start()


@dataclass
class Role:
    """One role's process."""

    name: str
    command: str
    env: dict[str, str]
    http_port: int
    log_path: Path
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "shopwindow.cli",
                self.command,
                env=self.env,
                stdout=log,
                stderr=log,
            )

    @property
    def running(self) -> bool:
        """Whether its process was started and has not exited."""
        return self.process is not None and self.process.returncode is None

    async def kill(self) -> None:
        if self.process and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> None:
        if self.process and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                await self.kill()

    async def ready(self, http: httpx.AsyncClient) -> bool:
        try:
            return (await http.get(f"{self.url}/readyz", timeout=2)).status_code == 200
        except httpx.HTTPError:
            return False


def role_environment(
    servers: Servers, role: str, topics: TopicNames, database: str, group: str
) -> dict[str, str]:
    """What a role's process is configured with: every link through its proxy."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("SHOPWINDOW_")},
        "SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS": servers.kafka_bootstrap_servers,
        "SHOPWINDOW_MONGODB_URI": servers.mongodb_uri(role),
        "SHOPWINDOW_MONGODB_DATABASE": database,
        "SHOPWINDOW_MATERIALIZER_GROUP_ID": group,
        "SHOPWINDOW_LOG_FORMAT": "json",
        "SHOPWINDOW_SEARCH_ENABLED": "false",  # Two cores: spend them on what is tested.
        "SHOPWINDOW_RETRY_BACKOFF_MAX_MS": "2000",
        **{f"SHOPWINDOW_TOPICS__{k.upper()}": v for k, v in topics.model_dump().items()},
    }


@contextlib.asynccontextmanager
async def deployment(
    servers: Servers,
    topics: TopicNames,
    database: str,
    log_dir: Path,
    settings: Mapping[str, str] | None = None,
) -> AsyncIterator[list[Role]]:
    """Two materializers and two gateways, started and ready; stopped afterwards.

    ``settings`` are ``SHOPWINDOW_*`` variables every role gets besides its links.
    """
    group = f"faults-{database}"
    roles: list[Role] = []
    for kind, command, port_variable in (
        ("materializer", "materialize", "SHOPWINDOW_MATERIALIZER_HTTP_PORT"),
        ("gateway", "serve", "SHOPWINDOW_HTTP_PORT"),
    ):
        for n in (1, 2):
            port = free_port()
            env = role_environment(servers, kind, topics, database, group) | {
                **(settings or {}),
                port_variable: str(port),
            }
            roles.append(Role(f"{kind}-{n}", command, env, port, log_dir / f"{kind}-{n}.log"))
    try:
        for role in roles:
            await role.start()
        async with httpx.AsyncClient() as http:
            for _ in range(600):  # 60 s
                if all(await asyncio.gather(*(role.ready(http) for role in roles))):
                    break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"roles not ready; see {log_dir}")
        yield roles
    finally:
        for role in roles:
            await role.stop()
