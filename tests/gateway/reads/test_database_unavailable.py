"""MongoDB not answering is a retriable 503 ``UNAVAILABLE``, in time, on every path.

The database sits behind the fault proxy of the test harness. When it stops answering
without closing its connections (half-open, as a partition that sends no reset), a read
ends after ``SHOPWINDOW_MONGODB_TIMEOUT_MS`` with 503 and ``Retry-After``, never as the
request's 504 or a masked 500, and the gateway reads on fresh connections once the
database answers again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import ValidationError

from shopwindow.devstack import DevStack
from shopwindow.settings import GatewaySettings
from tests.faults.proxy import FaultProxy
from tests.gateway.conftest import GatewayFactory, Seed, full_product
from tests.materializer.test_outages import mongodb_address

QUERY = '{ products(ids: ["abc"]) { id name } }'


@pytest.fixture
async def proxy(stack: DevStack) -> AsyncIterator[FaultProxy]:
    address = mongodb_address(stack.mongodb_uri)
    if address is None:
        pytest.skip("the MongoDB under test is not one direct host to proxy")
    made = FaultProxy(address)
    await made.start()
    yield made
    await made.stop()


async def test_a_database_that_stops_answering_gets_503_in_time_then_recovers(
    seed: Seed, gateway: GatewayFactory, proxy: FaultProxy
) -> None:
    await seed("abc", *full_product("abc"))
    async with gateway(
        mongodb_uri=f"mongodb://{proxy.address}/?directConnection=true",
        document_cache_mb=0,  # Every read goes to MongoDB.
        mongodb_timeout_ms=500,
        request_timeout_ms=4000,
    ) as http:
        served = await http.post("/graphql", json={"query": QUERY})
        assert served.status_code == 200 and served.json()["data"]["products"][0]["id"] == "abc"
        proxy.freeze_all()
        proxy.faults.half_open = True  # New connections too: the database is gone.
        refused = await http.post("/graphql", json={"query": QUERY})
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "1"
        [error] = refused.json()["errors"]
        # UNAVAILABLE, not TIMEOUT: the database's timeout ended the read, not the request's.
        assert error["extensions"]["code"] == "UNAVAILABLE"
        assert "Traceback" not in refused.text
        proxy.faults.half_open = False
        statuses = []
        for _ in range(20):  # Frozen connections are dropped one timeout at a time.
            answer = await http.post("/graphql", json={"query": QUERY})
            statuses.append(answer.status_code)
            if answer.status_code == 200:
                break
        assert statuses[-1] == 200 and set(statuses) <= {200, 503}, statuses


def test_the_database_must_answer_within_the_request(
    gateway_settings: Callable[..., GatewaySettings],
) -> None:
    with pytest.raises(ValidationError, match="mongodb_timeout_ms must be below"):
        gateway_settings(mongodb_timeout_ms=5000, request_timeout_ms=5000)
    assert gateway_settings(mongodb_timeout_ms=4999).mongodb_read_timeout_ms == 4999
    # Unset: within the request whatever its limit, and never longer than 3 s.
    assert gateway_settings(request_timeout_ms=100).mongodb_read_timeout_ms == 60
    assert gateway_settings(request_timeout_ms=5000).mongodb_read_timeout_ms == 3000
    assert gateway_settings(request_timeout_ms=60_000).mongodb_read_timeout_ms == 3000
