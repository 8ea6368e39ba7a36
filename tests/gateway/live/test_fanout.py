"""The fan-out core on its own: grouping, shared payloads, conflation and deletion."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopwindow.clock import SystemClock
from shopwindow.gateway.live.fanout import FanOut, GroupSpec, Outbox, Subscriber
from shopwindow.materializer.sources import inventory
from shopwindow.sale_product import SaleProduct, read_sale_product
from tests.fuzz import SCALE


def doc(version: int, available: int = 1, product_id: str = "abc") -> SaleProduct:
    return read_sale_product(
        {
            "_id": product_id,
            "version": version,
            "visible": True,
            "stock": {"available": available, "status": "IN_STOCK", "updated_at": None},
        }
    )


@dataclass(frozen=True)
class Field:
    ends_when_gone: bool = True

    def watch(
        self,
        product: SaleProduct,
        segment: str | None,
        sku: str | None,
        price_order: tuple[str | None, ...] = (None,),
        at: datetime | None = None,
    ) -> Hashable:
        return product.get(inventory.SOURCE).available

    def follows(self, product: SaleProduct, sku: str | None) -> bool:
        return True


STOCK = Field()
PRODUCT = Field(ends_when_gone=False)


def spec(field: Field = STOCK, selection: str = "a", segment: str | None = None) -> GroupSpec:
    return GroupSpec(field, (selection, segment), segment, operation=selection)


@dataclass
class Runner:
    calls: list[tuple[Hashable, int | None]] = field(default_factory=list)

    async def __call__(
        self, group: GroupSpec, run_id: str, product: SaleProduct | None, at: datetime
    ) -> str:
        self.calls.append((group.identity, None if product is None else product.version))
        await asyncio.sleep(0)
        if product is None:
            return '{"data":null}'
        available = product.get(inventory.SOURCE).available
        return json.dumps({"v": product.version, "available": available, "seg": group.segment})


@dataclass
class Documents:
    docs: dict[str, SaleProduct] = field(default_factory=dict)

    async def by_ids(self, ids: Sequence[str], *, fresh: bool = False) -> list[Any]:
        return [self.docs.get(i) for i in ids]


@dataclass
class Owner:
    op_id: str
    ends: list[str] | None

    def complete_frame(self, subscriber: Subscriber) -> str:
        return f'{{"id":"{self.op_id}","type":"complete"}}'

    def ended(self, subscriber: Subscriber) -> None:
        if self.ends is not None:
            self.ends.append(self.op_id)


@dataclass
class Client:
    """One connection: what it was sent, parsed."""

    frames: list[dict[str, Any]] = field(default_factory=list)
    gate: asyncio.Event | None = None

    async def send(self, text: str) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.frames.append(json.loads(text))

    def subscriber(self, outbox: Outbox, op_id: str, ended: list[str] | None = None) -> Subscriber:
        return Subscriber(Owner(op_id, ended), outbox, f'{{"id":"{op_id}","payload":')

    def payloads(self, op_id: str) -> list[Any]:
        return [f.get("payload", "complete") for f in self.frames if f["id"] == op_id]


@pytest.fixture
async def fanout() -> AsyncIterator[tuple[FanOut, Runner, Documents]]:
    runner, documents = Runner(), Documents({"abc": doc(5, available=3)})
    made = FanOut(runner, documents, SystemClock())
    await made.start()
    yield made, runner, documents
    await made.stop()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)


async def test_subscribers_of_one_group_share_one_execution_and_its_bytes(
    fanout: tuple[FanOut, Runner, Documents],
) -> None:
    made, runner, _ = fanout
    one, two = Client(), Client()
    made.join(one.subscriber(Outbox(one.send), "1"), spec(), ["abc"], read=True)
    made.join(two.subscriber(Outbox(two.send), "9"), spec(), ["abc"], read=True)
    await settle()
    made.changed(doc(6, available=2))
    await settle()
    assert runner.calls == [(("a", None), 5), (("a", None), 6)]
    assert (
        one.payloads("1")
        == two.payloads("9")
        == [
            {"v": 5, "available": 3, "seg": None},
            {"v": 6, "available": 2, "seg": None},
        ]
    )
    assert made.groups == 1


async def test_members_and_pushes_are_counted(fanout: tuple[FanOut, Runner, Documents]) -> None:
    # What shopwindow_live_members and shopwindow_live_pushes report.
    made, _, documents = fanout
    documents.docs["def"] = doc(1, product_id="def")
    one, two = Client(), Client()
    made.join(one.subscriber(Outbox(one.send), "1"), spec(), ["abc", "def"], read=True)
    made.join(two.subscriber(Outbox(two.send), "9"), spec(), ["abc"], read=True)
    await settle()
    assert made.members == 3
    pushed = made.pushed
    made.changed(doc(6, available=2))
    await settle()
    assert made.pushed == pushed + 2  # One change of abc, to both of its subscribers.


@pytest.mark.parametrize(
    "other", [spec(segment="gold"), spec(selection="b")], ids=["segment", "selection"]
)
async def test_other_segments_or_selections_are_other_groups(
    fanout: tuple[FanOut, Runner, Documents], other: GroupSpec
) -> None:
    made, runner, _ = fanout
    one, two = Client(), Client()
    made.join(one.subscriber(Outbox(one.send), "1"), spec(), ["abc"], read=True)
    made.join(two.subscriber(Outbox(two.send), "1"), other, ["abc"], read=True)
    await settle()
    made.changed(doc(6, available=2))
    await settle()
    assert made.groups == 2 and len(runner.calls) == 4
    assert one.payloads("1")[-1]["seg"] is None
    assert two.payloads("1")[-1]["seg"] == other.segment


async def test_unchanged_values_stale_versions_and_other_products_send_nothing(
    fanout: tuple[FanOut, Runner, Documents],
) -> None:
    made, runner, _ = fanout
    client = Client()
    made.join(client.subscriber(Outbox(client.send), "1"), spec(), ["abc"], read=True)
    await settle()
    made.changed(doc(6, available=3))  # What the subscriber sees is unchanged.
    made.changed(doc(4, available=9))  # Older than what it has.
    made.changed(doc(9, available=9, product_id="other"))
    await settle()
    assert [p["v"] for p in client.payloads("1")] == [5]
    assert len(runner.calls) == 1  # Nothing changed for anyone: no execution either.
    made.changed(doc(7, available=1))
    await settle()
    assert [p["v"] for p in client.payloads("1")] == [5, 7]


async def test_a_slow_connection_gets_the_newest_value_not_a_queue(
    fanout: tuple[FanOut, Runner, Documents],
) -> None:
    made, _, _ = fanout
    client = Client(gate=asyncio.Event())
    made.join(client.subscriber(Outbox(client.send), "1"), spec(), ["abc"], read=True)
    await settle()
    for version in range(6, 26):
        made.changed(doc(version, available=version))
        await settle()
    client.gate.set()  # type: ignore[union-attr]
    await settle()
    versions = [p["v"] for p in client.payloads("1")]
    assert versions[-1] == 25 and len(versions) <= 3 and versions == sorted(versions)


async def test_a_gone_product_completes_stock_and_sends_null_to_product_followers(
    fanout: tuple[FanOut, Runner, Documents],
) -> None:
    made, _, documents = fanout
    client, ended = Client(), list[str]()
    outbox = Outbox(client.send)
    made.join(client.subscriber(outbox, "stock", ended), spec(STOCK), ["abc"], read=True)
    made.join(client.subscriber(outbox, "product", ended), spec(PRODUCT), ["abc"], read=True)
    await settle()
    made.gone("abc", 6)
    await settle()
    assert client.payloads("stock") == [{"v": 5, "available": 3, "seg": None}, "complete"]
    assert client.payloads("product")[-1] == {"data": None} and ended == ["stock"]
    made.gone("abc", 6)  # Again: nothing new.
    made.changed(doc(5, available=8))  # Older than the deletion: stays gone.
    await settle()
    assert len(client.payloads("product")) == 2
    made.changed(doc(7, available=4))  # It came back.
    await settle()
    assert client.payloads("product")[-1] == {"v": 7, "available": 4, "seg": None}
    # New stock subscriptions follow it again.
    documents.docs["abc"] = doc(7, available=4)
    again = Client()
    made.join(again.subscriber(Outbox(again.send), "stock"), spec(STOCK), ["abc"], read=True)
    await settle()
    assert again.payloads("stock") == [{"v": 7, "available": 4, "seg": None}]


async def test_a_list_subscription_drops_a_gone_product_and_completes_with_the_last(
    fanout: tuple[FanOut, Runner, Documents],
) -> None:
    made, _, documents = fanout
    documents.docs["b"] = doc(1, product_id="b")
    client, ended = Client(), list[str]()
    made.join(client.subscriber(Outbox(client.send), "1", ended), spec(), ["abc", "b"], read=True)
    await settle()
    made.gone("abc", 9)
    made.changed(doc(2, available=5, product_id="b"))
    await settle()
    assert ended == [] and client.payloads("1")[-1]["available"] == 5
    made.gone("b", None)  # A re-read found nothing: whatever is known has gone.
    await settle()
    assert ended == ["1"] and client.payloads("1")[-1] == "complete"
    assert made.groups == 0 and made.products() == []


async def test_subscribing_to_a_product_not_served_completes_or_sends_null(
    fanout: tuple[FanOut, Runner, Documents],
) -> None:
    made, _, _ = fanout
    client, ended = Client(), list[str]()
    outbox = Outbox(client.send)
    made.join(client.subscriber(outbox, "s", ended), spec(STOCK), ["nope"], read=True)
    made.join(client.subscriber(outbox, "p", ended), spec(PRODUCT), ["nope"], read=True)
    await settle()
    assert client.payloads("s") == ["complete"] and client.payloads("p") == [{"data": None}]
    made.changed(doc(1, available=2, product_id="nope"))
    await settle()
    assert client.payloads("p")[-1] == {"v": 1, "available": 2, "seg": None}


async def test_a_subscriber_that_left_gets_nothing_more(
    fanout: tuple[FanOut, Runner, Documents],
) -> None:
    made, _, _ = fanout
    client = Client()
    subscriber = client.subscriber(Outbox(client.send), "1")
    made.join(subscriber, spec(), ["abc"], read=True)
    await settle()
    made.leave(subscriber)
    made.changed(doc(6, available=0))
    await settle()
    assert len(client.payloads("1")) == 1 and made.groups == 0


async def test_a_held_subscriber_gets_its_own_first_value_then_the_groups(
    fanout: tuple[FanOut, Runner, Documents],
) -> None:
    made, _, _ = fanout
    client, other = Client(), Client()
    held = client.subscriber(Outbox(client.send), "1")
    made.join(other.subscriber(Outbox(other.send), "2"), spec(), ["abc"], read=True)
    made.join(held, spec(), ["abc"], read=False, held=True)
    await settle()
    made.changed(doc(6, available=1))
    await settle()
    assert client.payloads("1") == [] and len(other.payloads("2")) == 2
    made.release(held, "abc", doc(5, available=3), '{"own":5}')
    await settle()
    # Its own value (as it read it) first, then the group's newer one.
    assert client.payloads("1") == [{"own": 5}, {"v": 6, "available": 1, "seg": None}]


Step = tuple[str, int, int]  # (what, product index, value)


@settings(max_examples=100 * SCALE, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["change", "again", "gone", "join", "leave", "settle"]),
            st.integers(0, 2),
            st.integers(0, 3),
        ),
        max_size=40,
    )
)
async def test_any_interleaving_keeps_versions_rising_and_ends_current(steps: list[Step]) -> None:
    runner, documents = Runner(), Documents({f"p{i}": doc(1, 0, f"p{i}") for i in range(3)})
    made = FanOut(runner, documents, SystemClock())
    await made.start()
    client, ended = Client(), list[str]()
    outbox = Outbox(client.send)
    versions = {f"p{i}": 1 for i in range(3)}
    joined: dict[str, Subscriber] = {}
    left: set[str] = set()
    try:
        for n, (what, index, value) in enumerate(steps):
            product = f"p{index}"
            if what == "change":
                versions[product] += 1
                current = doc(versions[product], value, product)
                documents.docs[product] = current
                made.changed(current)
            elif what == "again" and product in documents.docs:
                # The materializer announcing a document again (a retried batch); the
                # changelog never brings an older one after a newer.
                made.changed(documents.docs[product])
            elif what == "gone":
                versions[product] += 1
                documents.docs.pop(product, None)
                made.gone(product, versions[product])
            elif what == "join":
                op_id = f"s{n}"
                joined[op_id] = client.subscriber(outbox, op_id, ended)
                made.join(
                    joined[op_id], spec(PRODUCT if value % 2 else STOCK), [product], read=True
                )
            elif what == "leave" and joined:
                op_id = sorted(joined)[value % len(joined)]
                made.leave(joined.pop(op_id))
                left.add(op_id)
            else:
                await settle()
        await settle()
        await settle()
    finally:
        await outbox.close()
        await made.stop()
    for op_id in {f["id"] for f in client.frames}:
        payloads = client.payloads(op_id)
        seen = [p["v"] for p in payloads if isinstance(p, dict) and "v" in p]
        assert seen == sorted(set(seen)), (op_id, payloads)  # Rising, never repeated.
        if "complete" in payloads:
            assert payloads[-1] == "complete" and payloads.count("complete") == 1
    for op_id, subscriber in joined.items():
        # Still subscribed: its last frame is the product as it is now.
        payloads = client.payloads(op_id)
        if op_id in ended:
            assert payloads[-1] == "complete", (op_id, payloads)
            continue
        assert payloads, op_id  # Every subscriber gets the current value.
        product = subscriber.members[0].group.product_id
        now: SaleProduct | None = documents.docs.get(product)
        last = payloads[-1]
        if now is None:
            assert last == {"data": None}, (op_id, payloads)
        else:
            available = now.get(inventory.SOURCE).available
            assert last["available"] == available, (op_id, payloads, now.version)
