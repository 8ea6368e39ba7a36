"""A child server process that never outlives the process that started it."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: the kernel sends SIGTERM to the child when
    # the parent dies, even by SIGKILL, so a crashed test run leaves no server behind.
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a currently free TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ServerStartError(RuntimeError):
    """A stand-in server exited or never became ready."""


class ManagedProcess:
    """Starts a server, waits until it answers, and stops it with SIGTERM then SIGKILL."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path) -> None:
        self.name = name
        self._argv = list(argv)
        self._log_path = log_path
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        """The child's pid while it runs."""
        return self._process.pid if self._process else None

    async def start(self, ready: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> None:
        """Spawn the server and poll ``ready`` until it returns True.

        Args:
            ready: Probe that really talks the server's protocol.
            timeout_s: How long the server gets to become ready.

        Raises:
            ServerStartError: When the process exits or the probe keeps failing.
        """
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        with self._log_path.open("ab") as log_file:
            self._process = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                preexec_fn=_die_with_parent,
                # Out of the terminal's process group: Ctrl-C reaches only us, and we stop
                # the servers after the clients that use them.
                start_new_session=True,
            )
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            if self._process.returncode is not None:
                raise ServerStartError(
                    f"{self.name} exited with {self._process.returncode}; see {self._log_path}"
                )
            with contextlib.suppress(Exception):
                if await ready():
                    log.info("%s ready (pid %s)", self.name, self._process.pid)
                    return
            if asyncio.get_running_loop().time() > deadline:
                await self.stop()
                raise ServerStartError(f"{self.name} not ready after {timeout_s}s")
            await asyncio.sleep(0.1)

    def suspend(self) -> None:
        """SIGSTOP the server: it keeps its sockets but answers nothing (outage tests)."""
        if self._process and self._process.returncode is None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a suspended server."""
        if self._process and self._process.returncode is None:
            self._process.send_signal(signal.SIGCONT)

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
