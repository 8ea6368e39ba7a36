"""A TCP proxy on loopback that injects network faults between a client and a server.

Each accepted connection is forwarded to the upstream address in both directions. While
it runs, a test can add latency to every chunk, delay a fraction of the chunks by much
more, reset every open connection, or make connections half-open: the proxy keeps the
sockets open and reads what the client sends, but forwards nothing either way. A
client notices a dead peer in that last case only by a timeout of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

CHUNK_BYTES = 65536


@dataclass
class Faults:
    """What the proxy does to the traffic; change the fields while it runs."""

    latency_s: float = 0.0
    delayed_fraction: float = 0.0
    delay_s: float = 0.0
    # New connections are half-open from the start; open ones are frozen by ``freeze()``.
    half_open: bool = False
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def delay_of_next_chunk_s(self) -> float:
        """The latency, plus the long delay for the unlucky fraction of chunks."""
        extra = self.delay_s if self.rng.random() < self.delayed_fraction else 0.0
        return self.latency_s + extra


class _Link:
    """One proxied connection: two pumps that keep each direction in order."""

    def __init__(
        self,
        faults: Faults,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        server: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self.faults = faults
        self.frozen = faults.half_open
        self.number = 0  # Its place in the order the proxy accepted connections, from 1.
        self._writers = (client[1], server[1])
        self.tasks = [
            asyncio.create_task(self._pump(client[0], server[1])),
            asyncio.create_task(self._pump(server[0], client[1])),
        ]

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        last_delivery = 0.0
        with contextlib.suppress(ConnectionError, OSError):
            while chunk := await source.read(CHUNK_BYTES):
                if self.frozen:
                    continue  # Read and dropped: the peer seems to be there, and mute.
                # In order: a chunk never overtakes the one before it.
                last_delivery = max(
                    loop.time() + self.faults.delay_of_next_chunk_s(), last_delivery
                )
                wait_s = last_delivery - loop.time()
                if wait_s > 0:
                    await asyncio.sleep(wait_s)
                if self.frozen:
                    continue
                sink.write(chunk)
                await sink.drain()
            if not self.frozen:
                sink.write_eof()
            else:
                await asyncio.Event().wait()  # Half-open: never close on our side.

    def reset(self) -> None:
        """Abort both sockets with a TCP reset, as a crashed middlebox would."""
        for writer in self._writers:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        for task in self.tasks:
            task.cancel()

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class FaultProxy:
    """Listens on a free loopback port and forwards to ``upstream``.

    Args:
        upstream: ``(host, port)`` of the server, or a callable giving it when a client
            connects (the server may start after the proxy, e.g. to advertise the
            proxy's address).
    """

    def __init__(self, upstream: tuple[str, int] | Callable[[], tuple[str, int]]) -> None:
        self._upstream = upstream if callable(upstream) else (lambda: upstream)
        self.faults = Faults()
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self.connections_accepted = 0

    @property
    def port(self) -> int:
        """The port clients connect to."""
        if self._server is None:
            raise RuntimeError("start() the proxy first")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Start listening."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections_accepted += 1
        number = self.connections_accepted
        try:
            host, port = self._upstream()
            upstream = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        except (OSError, TimeoutError):
            writer.transport.abort()
            return
        link = _Link(self.faults, (reader, writer), upstream)
        link.number = number
        self._links.add(link)
        try:
            await asyncio.gather(*link.tasks, return_exceptions=True)
        except asyncio.CancelledError:
            pass  # Stopped with the proxy: the connection goes with it, quietly.
        finally:
            self._links.discard(link)
            await link.close()

    def reset_all(self) -> int:
        """Reset every open connection; returns how many there were."""
        links = list(self._links)
        for link in links:
            link.reset()
        return len(links)

    def freeze_all(self, sparing_first: int = 0) -> int:
        """Make every open connection half-open for good; returns how many there were.

        Args:
            sparing_first: Leave the connections among the first this many accepted
                alone: a client's monitor, which connects before its operations do.
        """
        frozen = [link for link in self._links if link.number > sparing_first]
        for link in frozen:
            link.frozen = True
        return len(frozen)

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None:
            self._server.close()
            for link in list(self._links):
                link.reset()
            await self._server.wait_closed()
            self._server = None
