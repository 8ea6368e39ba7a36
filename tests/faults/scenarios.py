"""The faults of ``make faults``: what starts each, and what ends it.

Each scenario acts on the servers (suspend, kill, restart), on the fault proxies in
front of them (latency, resets, half-open links, delays) or on the roles' processes
(restarts, a wrong clock), and ends its fault so that recovery can be measured.
"""

from __future__ import annotations

import asyncio
import glob
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shopwindow.document import COLLECTION
from shopwindow.mongo import mongo_client
from tests.faults.clients import stop_quietly
from tests.faults.deployment import Role, Servers
from tests.gateway.conftest import sample

# Debian's libfaketime moves the wall clock of one process; the monotonic clock, which
# timeouts and backoff use, stays true, as on a host whose NTP is off.
FAKETIME_LIBRARIES = "/usr/lib/*/faketime/libfaketime.so.1"
CLOCK_OFFSET = "+1h"


Action = Callable[[Servers, list[Role]], Awaitable[None]]
# What shows that a fault took hold, read just before it ends: a few words, or "" for
# none. The outages show theirs in the readers' 503s and the recovery time.
Evidence = Callable[[Servers, list[Role]], Awaitable[str]]


@dataclass
class Scenario:
    """A fault: what starts it, what ends it, and what shows that it bit."""

    name: str
    begin: Action
    end: Action
    evidence: Evidence | None = None
    # The share of the fleet's subscriptions that must have reconnected by the end.
    fleet_reconnects: float = 0.0
    # MongoDB is away: the gateways must go on answering from their caches (each
    # answer, as always, saying how fresh it is).
    cached_answers: bool = False


async def nothing(servers: Servers, roles: list[Role]) -> None:
    return None


def every_proxy(servers: Servers) -> list[Any]:
    return [servers.kafka_proxy, *servers.mongo_proxies.values()]


def set_faults(**faults: float) -> Callable[[Servers, list[Role]], Awaitable[None]]:
    async def apply(servers: Servers, roles: list[Role]) -> None:
        for proxy in every_proxy(servers):
            for name, value in faults.items():
                setattr(proxy.faults, name, value)

    return apply


def repeatedly(
    action: Callable[[Servers, list[Role]], Awaitable[None]], every_s: float
) -> tuple[Callable[[Servers, list[Role]], Awaitable[None]], Callable[..., Awaitable[None]]]:
    """A fault that repeats ``action`` every ``every_s`` until it ends."""
    running: list[asyncio.Task[None]] = []

    async def loop(servers: Servers, roles: list[Role]) -> None:
        while True:
            await action(servers, roles)
            await asyncio.sleep(every_s)

    async def begin(servers: Servers, roles: list[Role]) -> None:
        running.append(asyncio.create_task(loop(servers, roles)))

    async def end(servers: Servers, roles: list[Role]) -> None:
        for task in running:
            await stop_quietly(task)
        running.clear()

    return begin, end


async def reset_connections(servers: Servers, roles: list[Role]) -> None:
    for proxy in every_proxy(servers):
        proxy.reset_all()


async def freeze_connections(servers: Servers, roles: list[Role]) -> None:
    for proxy in every_proxy(servers):
        proxy.freeze_all()


async def crash_database(servers: Servers, roles: list[Role]) -> None:
    await servers.kill_database()


async def restart_database(servers: Servers, roles: list[Role]) -> None:
    await servers.restart_database()


async def materializers_churn(servers: Servers, roles: list[Role]) -> None:
    # Members leave and join: each restart is a rebalance of the group.
    for role in roles:
        if role.name.startswith("materializer"):
            await role.stop()
            await role.start()


async def materializers_running(servers: Servers, roles: list[Role]) -> None:
    # The churn may end between a member's stop and its start: every member runs again.
    for role in roles:
        if role.name.startswith("materializer") and not role.running:
            await role.start()


def scenarios() -> list[Scenario]:
    resets = repeatedly(reset_connections, 2.0)
    churn_begin, churn_stop = repeatedly(materializers_churn, 2.0)

    async def churn_end(servers: Servers, roles: list[Role]) -> None:
        await churn_stop(servers, roles)
        await materializers_running(servers, roles)

    async def suspend_broker(servers: Servers, roles: list[Role]) -> None:
        servers.broker.process.suspend()

    async def resume_broker(servers: Servers, roles: list[Role]) -> None:
        servers.broker.process.resume()

    async def suspend_database(servers: Servers, roles: list[Role]) -> None:
        servers.database.process.suspend()

    async def resume_database(servers: Servers, roles: list[Role]) -> None:
        servers.database.process.resume()

    return [
        Scenario("broker-stopped", suspend_broker, resume_broker),
        Scenario("mongodb-stopped", suspend_database, resume_database, cached_answers=True),
        Scenario("mongodb-killed", crash_database, restart_database, cached_answers=True),
        Scenario("latency-300ms", set_faults(latency_s=0.3), set_faults(latency_s=0.0)),
        Scenario("resets-mid-batch", *resets),
        Scenario("half-open", freeze_connections, nothing),
        Scenario(
            "10pct-delayed-2s",
            set_faults(delayed_fraction=0.1, delay_s=2.0),
            set_faults(delayed_fraction=0.0, delay_s=0.0),
        ),
        Scenario("rebalance-storm", churn_begin, churn_end),
        # Half the fleet is on the killed gateway; each of those must come back.
        Scenario("gateway-killed", kill_gateway, restart_gateway, fleet_reconnects=0.5),
        Scenario("writes-refused", refuse_writes, accept_writes, write_retries),
        Scenario(
            "clock-1h-ahead", with_clock(CLOCK_OFFSET), with_clock(None), documents_from_ahead
        ),
    ]


async def refuse_writes(servers: Servers, roles: list[Role]) -> None:
    # A validator no document meets: MongoDB refuses every write with code 121, for a
    # reason of its own, as a full disk or a revoked privilege would.
    await _set_validator(servers, roles, {"refused_during_the_fault": {"$exists": True}})


async def accept_writes(servers: Servers, roles: list[Role]) -> None:
    await _set_validator(servers, roles, {})


async def _set_validator(servers: Servers, roles: list[Role], validator: dict[str, Any]) -> None:
    database = roles[0].env["SHOPWINDOW_MONGODB_DATABASE"]
    client = mongo_client(servers.direct_mongodb_uri, "shopwindow-faults", timeoutMS=10_000)
    try:
        await client[database].command({"collMod": COLLECTION, "validator": validator})
    finally:
        await client.close()


def faketime_library() -> str:
    """The path of libfaketime.

    Raises:
        SystemExit: When it is not installed (``make faults`` installs it).
    """
    found = sorted(glob.glob(FAKETIME_LIBRARIES))
    if not found:
        raise SystemExit(f"no {FAKETIME_LIBRARIES}: install Debian's libfaketime")
    return found[0]


def with_clock(offset: str | None) -> Callable[[Servers, list[Role]], Awaitable[None]]:
    """Restart the first materializer with its wall clock ``offset`` off (None: true)."""

    async def restart(servers: Servers, roles: list[Role]) -> None:
        member = next(role for role in roles if role.name.startswith("materializer"))
        await member.stop()
        clockless = {k: v for k, v in member.env.items() if not k.startswith(("FAKETIME", "LD_"))}
        if offset is None:
            member.env = clockless
        else:
            member.env = clockless | {
                "LD_PRELOAD": faketime_library(),
                "FAKETIME": offset,
                "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            }
        await member.start()

    return restart


async def write_retries(servers: Servers, roles: list[Role]) -> str:
    """How many batches the materializers retried for MongoDB during the fault."""
    total = 0.0
    for role in roles:
        if role.name.startswith("materializer"):
            async with httpx.AsyncClient(base_url=role.url, timeout=5) as http:
                total += await sample(http, "shopwindow_batch_retries_total", dependency="mongodb")
    return f"{total:.0f} batches retried" if total else ""


async def documents_from_ahead(servers: Servers, roles: list[Role]) -> str:
    """How many documents say they were written more than 50 minutes from now."""
    database = roles[0].env["SHOPWINDOW_MONGODB_DATABASE"]
    ahead = datetime.now(UTC) + timedelta(minutes=50)
    client = mongo_client(servers.direct_mongodb_uri, "shopwindow-faults", timeoutMS=10_000)
    try:
        count = await client[database][COLLECTION].count_documents(
            {"materialized_at": {"$gt": ahead}}
        )
    finally:
        await client.close()
    return f"{count} documents written an hour ahead" if count else ""


def _last_gateway(roles: list[Role]) -> Role:
    return [role for role in roles if role.name.startswith("gateway")][-1]


async def kill_gateway(servers: Servers, roles: list[Role]) -> None:
    # SIGKILL: no close frame reaches a subscriber; the kernel resets its connection.
    await _last_gateway(roles).kill()


async def restart_gateway(servers: Servers, roles: list[Role]) -> None:
    await _last_gateway(roles).start()
