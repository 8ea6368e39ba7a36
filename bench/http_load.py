"""Serving a benchmarked app and loading it: a uvicorn process per server, and a
keep-alive HTTP/1.1 load generator on the other CPUs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence

from shopwindow.devstack.process import free_port
from shopwindow.gateway.app import server_options
from shopwindow.settings import GatewaySettings

# The server options `shopwindow serve` takes from the default settings.
_DEFLATE = str(server_options(GatewaySettings.model_construct())["ws_per_message_deflate"]).lower()


# The HTTP protocol ``shopwindow serve`` runs: httptools within the request bounds. The
# bare endpoints a gateway is held to run on plain httptools.
GATEWAY_HTTP = "shopwindow.request_bounds:BoundedHttpProtocol"


async def start_app(
    target: str, env: dict[str, str], http: str = "httptools"
) -> tuple[asyncio.subprocess.Process, int]:
    """Run the uvicorn app factory ``target`` (``module:factory``) on a free port with
    uvloop and the protocol ``http`` (``GATEWAY_HTTP`` runs a gateway the way ``shopwindow
    serve`` does); returns once the port accepts connections (the app may still be
    starting its lifespan)."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        http,
        "--no-access-log",
        "--ws-per-message-deflate",
        _DEFLATE,
        "--log-level",
        "warning",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
    )
    await accepting(process, port, target)
    return process, port


async def accepting(process: asyncio.subprocess.Process, port: int, what: str) -> None:
    """Wait until ``process`` accepts connections on ``port`` (at most a minute).

    Raises:
        RuntimeError: When it exits or does not listen in time (it is killed).
    """
    for _ in range(600):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            if process.returncode is not None:
                break
            await asyncio.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{what} did not start")


async def load(
    port: int, requests: Sequence[tuple[str, bytes]], concurrency: int, seconds: float
) -> tuple[int, dict[str, list[float]]]:
    """Drive the server with ``concurrency`` keep-alive connections for ``seconds``,
    each sending requests picked at random; errors and latencies by request label."""
    latencies: dict[str, list[float]] = {label: [] for label, _ in requests}
    errors = 0
    deadline = time.perf_counter() + seconds

    async def connection(seed: int) -> None:
        nonlocal errors
        rng = random.Random(seed)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                label, request = rng.choice(requests)
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                latencies[label].append(time.perf_counter() - started)
                if not head.startswith(b"HTTP/1.1 200"):
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection(n) for n in range(concurrency)))
    return errors, latencies


@contextlib.contextmanager
def pinned_apart(server_pid: int) -> Iterator[None]:
    """The server on the first CPU and this load generator on the others, so that
    neither takes the other's time; every server is measured the same way."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2:
        yield
        return
    os.sched_setaffinity(server_pid, {cpus[0]})
    os.sched_setaffinity(0, set(cpus[1:]))
    try:
        yield
    finally:
        os.sched_setaffinity(0, set(cpus))
