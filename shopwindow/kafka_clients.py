"""Where the Kafka cluster is, and how long one request to it may take.

aiokafka notices a broker that stopped answering (a half-open connection, as a network
partition or a frozen host leaves it: no reset, no data) only when a request's timeout
runs out; it then drops that connection and opens a new one. Its default is 40 s, during
which a changelog reader hears nothing, subscriptions stall and a materializer folds
nothing. Every long-lived client of the roles is built here, so that each gets the
configured ``SHOPWINDOW_KAFKA_REQUEST_TIMEOUT_MS``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.protocol.group import JoinGroupRequest, LeaveGroupRequest

DEFAULT_REQUEST_TIMEOUT_MS = 15_000
# aiokafka sends a group's JoinGroup with the connection's request timeout, and the broker
# may hold a JoinGroup for the whole rebalance timeout (aiokafka's default: the session
# timeout, 10 s). A request timeout at or below it would abandon every slow rebalance
# and start it over. The Java client waits for the rebalance timeout plus 5 s instead.
GROUP_REBALANCE_TIMEOUT_MS = 10_000


@dataclass(frozen=True, slots=True)
class KafkaConnection:
    """The cluster's bootstrap list and the request timeout every client uses.

    Attributes:
        bootstrap_servers: Comma-separated ``host:port`` list.
        request_timeout_ms: Longest one request may take before its connection is
            dropped and renewed.
    """

    bootstrap_servers: str
    request_timeout_ms: int = DEFAULT_REQUEST_TIMEOUT_MS

    def consumer(self, *topics: str, client_id: str, **options: Any) -> AIOKafkaConsumer:
        """A consumer of ``topics`` (or of partitions assigned later).

        Args:
            topics: Topics to subscribe to as a member of ``options["group_id"]``.
            client_id: How the broker's logs and metrics name it.
            options: Further ``AIOKafkaConsumer`` options.

        Raises:
            ValueError: For a group member whose request timeout would cut rebalances
                short.
        """
        if options.get("group_id") and self.request_timeout_ms <= GROUP_REBALANCE_TIMEOUT_MS:
            raise ValueError(
                f"a consumer group needs a request timeout above its rebalance timeout "
                f"({GROUP_REBALANCE_TIMEOUT_MS} ms), not {self.request_timeout_ms} ms"
            )
        return AIOKafkaConsumer(
            *topics,
            bootstrap_servers=self.bootstrap_servers,
            client_id=client_id,
            request_timeout_ms=self.request_timeout_ms,
            rebalance_timeout_ms=GROUP_REBALANCE_TIMEOUT_MS,
            **options,
        )


async def stop_group_member(consumer: AIOKafkaConsumer) -> None:
    """Stop ``consumer``, leaving its group, so the next member need not wait for it.

    Named stand-in workaround (Tansu): Tansu numbers a group's first generation 0, where
    Kafka starts at 1, and aiokafka sends its LeaveGroup only for generations above 0.
    A member of a group's first generation that stopped without leaving held the next
    rebalance until its session timed out: 10 s on every restart against the stand-in.
    Against Kafka the generation is never 0 after a join, and this is a plain stop.
    """
    coordinator = getattr(consumer, "_coordinator", None)
    if (
        coordinator is not None
        and coordinator.generation == 0
        and coordinator.member_id != JoinGroupRequest.UNKNOWN_MEMBER_ID
    ):
        # What aiokafka's own _maybe_leave_group sends, minus its generation check; a
        # minimal effort, as there: a failure only means the session times out.
        with contextlib.suppress(KafkaError, OSError, TimeoutError):
            await coordinator._send_req(
                LeaveGroupRequest(coordinator.group_id, coordinator.member_id)
            )
    await consumer.stop()
