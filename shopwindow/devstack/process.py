"""A child server process that never outlives the process that started it."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
# A port picked as free can be taken by someone else before the child binds it; the
# child then exits at once, and a fresh port is tried.
_PORT_ATTEMPTS = 5


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: the kernel signals the child when the
    # parent dies, even by SIGKILL, so a crashed test run leaves no server behind.
    # SIGKILL, not SIGTERM (stand-in workaround): SecantusDB's SIGTERM handler can hang
    # in its own shutdown and leave the orphan running. The parent is gone, so nobody
    # is waiting for a graceful stop; ordinary stops still send SIGTERM first (stop()).
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a currently free TCP port on ``host``.

    Only for servers that cannot bind port 0 themselves: the port may be taken again
    before it is bound, so the caller must detect that and retry (``ManagedProcess``).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _listens_on(pid: int, port: int) -> bool:
    # Asking the kernel which sockets the child holds needs no client connection, so
    # nothing is opened (and possibly leaked) while the server is still starting, and a
    # stranger that grabbed the port is never mistaken for our server.
    import psutil  # Comes with the dev extra, as the stand-ins do (see standins.py).

    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections)


class ServerStartError(RuntimeError):
    """A stand-in server exited or never became ready."""


class ManagedProcess:
    """Starts a server on a port, waits until it answers, and stops it.

    Args:
        name: For logs and errors.
        argv_for_port: The command line that makes the server listen on a given port.
        log_path: Where the server's output goes.
        host: The interface the server listens on.
    """

    def __init__(
        self,
        name: str,
        argv_for_port: Callable[[int], Sequence[str]],
        log_path: Path,
        host: str = "127.0.0.1",
    ) -> None:
        self.name = name
        self._argv_for_port = argv_for_port
        self._log_path = log_path
        self._host = host
        self._process: asyncio.subprocess.Process | None = None
        self.port: int | None = None
        # Set when the child is spawned, before it is ready: a proxy in front of a server
        # that advertises the proxy must reach it while its readiness is probed.
        self.spawned_port: int | None = None

    @property
    def pid(self) -> int | None:
        """The child's pid while it runs."""
        return self._process.pid if self._process else None

    async def start(self, ready: Callable[[int], Awaitable[bool]], timeout_s: float = 60.0) -> None:
        """Spawn the server and wait until it listens and ``ready`` returns True.

        The first start picks a free port, trying another when the server could not bind
        it; a restart reuses the port, so clients find the server where it was.

        Args:
            ready: Probe that really talks the server's protocol on the given port, once
                the server listens there.
            timeout_s: How long the server gets to become ready.

        Raises:
            ServerStartError: When the process exits or the probe keeps failing.
        """
        if self.port is not None:
            await self._start_on(self.port, ready, timeout_s)
            return
        for attempt in range(_PORT_ATTEMPTS):
            port = free_port(self._host)
            try:
                await self._start_on(port, ready, timeout_s)
            except ServerStartError:
                if attempt == _PORT_ATTEMPTS - 1:
                    raise
                log.warning("%s could not start on port %s; trying another", self.name, port)
                continue
            self.port = port
            return

    async def _start_on(
        self, port: int, ready: Callable[[int], Awaitable[bool]], timeout_s: float
    ) -> None:
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        with self._log_path.open("ab") as log_file:
            process = await asyncio.create_subprocess_exec(
                *self._argv_for_port(port),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                preexec_fn=_die_with_parent,
                # Out of the terminal's process group: Ctrl-C reaches only us, and we stop
                # the servers after the clients that use them.
                start_new_session=True,
            )
        self._process = process
        self.spawned_port = port
        deadline = asyncio.get_running_loop().time() + timeout_s
        listening = False
        while True:
            if process.returncode is not None:
                self._process = None
                raise ServerStartError(
                    f"{self.name} exited with {process.returncode}; see {self._log_path}"
                )
            listening = listening or _listens_on(process.pid, port)
            if listening and await self._answers(ready, port):
                log.info("%s ready on port %s (pid %s)", self.name, port, process.pid)
                return
            if asyncio.get_running_loop().time() > deadline:
                await self.stop()
                raise ServerStartError(f"{self.name} not ready after {timeout_s}s")
            await asyncio.sleep(0.1)

    @staticmethod
    async def _answers(ready: Callable[[int], Awaitable[bool]], port: int) -> bool:
        try:
            return await ready(port)
        except Exception:
            return False

    def suspend(self) -> None:
        """SIGSTOP the server: it keeps its sockets but answers nothing (outage tests)."""
        if self._process and self._process.returncode is None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a suspended server."""
        if self._process and self._process.returncode is None:
            self._process.send_signal(signal.SIGCONT)

    async def kill(self) -> None:
        """SIGKILL the server, as a crash would: nothing of its own shutdown runs.

        ``start()`` brings it back on the same port.
        """
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate the server and wait for it; kill it if it will not go."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGCONT)  # A suspended process cannot handle SIGTERM.
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout_s)
        except TimeoutError:
            process.kill()
            await process.wait()
