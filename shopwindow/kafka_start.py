"""Starting an aiokafka client so that a cancelled start leaves no connection open.

Named workaround for aiokafka 0.14: ``AIOKafkaClient.bootstrap`` closes its bootstrap
connection on a Kafka error or a timeout, but not when the task is cancelled while the
first metadata request is in flight. A gateway stopped while its changelog readers
start, or a materializer stopped while it waits for Kafka, then leaves a socket behind
that only the garbage collector notices (``Unclosed AIOKafkaConnection``). The start
therefore runs shielded: a cancelled caller waits for it to end, so that the client's
``stop`` finds, and closes, every connection it opened.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class KafkaClient(Protocol):
    """What aiokafka's consumer, producer and admin client have in common."""

    async def start(self) -> None: ...


async def start_kafka_client(client: KafkaClient) -> None:
    """Start ``client``; if cancelled, let the start end before re-raising.

    The wait is bounded by the client's own request timeout. A second cancellation
    while waiting is not held back.

    Args:
        client: An aiokafka consumer, producer or admin client, not started.

    Raises:
        asyncio.CancelledError: The caller was cancelled (once the start has ended).
    """
    starting = asyncio.ensure_future(client.start())
    try:
        await asyncio.shield(starting)
    except asyncio.CancelledError:
        await asyncio.wait([starting])
        if not starting.cancelled():
            starting.exception()  # Retrieved: the caller's cancellation is the news.
        raise
