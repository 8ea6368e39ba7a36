"""The changelog hub on its own: what it hands the fan-out and the document cache."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

from shopwindow.clock import SystemClock
from shopwindow.document import encode_changelog_value
from shopwindow.gateway.live.fanout import FanOut, Outbox
from shopwindow.gateway.live.reader import ChangelogHub
from shopwindow.gateway.metrics import GatewayMetrics
from shopwindow.gateway.reads.document_cache import DocumentCache
from shopwindow.gateway.reads.loaders import ProductDocuments
from shopwindow.kafka_clients import KafkaConnection
from shopwindow.materializer.sources import CORE
from shopwindow.sale_product import SaleProduct, read_sale_product
from tests.gateway.live.test_fanout import Client, Runner, settle, spec


def doc(version: int, available: int = 1, product_id: str = "abc") -> dict[str, Any]:
    return {
        "_id": product_id,
        "version": version,
        "visible": True,
        "stock": {"available": available, "status": "IN_STOCK", "updated_at": None},
    }


class StoredDocuments:
    def __init__(self, *docs: dict[str, Any]) -> None:
        self.docs = {d["_id"]: d for d in docs}

    async def by_ids(self, ids: Sequence[str], *, fresh: bool = False) -> list[SaleProduct | None]:
        return [read_sale_product(self.docs[i]) if i in self.docs else None for i in ids]


def hub_over(*docs: dict[str, Any]) -> ChangelogHub:
    return ChangelogHub(
        KafkaConnection("unused:9092"), "changes", cast(ProductDocuments, StoredDocuments(*docs))
    )


def publish(hub: ChangelogHub, *docs: dict[str, Any]) -> None:
    for change in docs:
        hub._dispatch(change["_id"].encode(), encode_changelog_value(change, CORE.sections))


@contextlib.asynccontextmanager
async def fed(hub: ChangelogHub, *followed: str) -> AsyncIterator[tuple[Client, list[str]]]:
    """A fan-out fed by ``hub``, and a client following each of ``followed``."""
    fanout = FanOut(Runner(), hub._documents, SystemClock())
    hub.feed(fanout)
    await fanout.start()
    client, ended = Client(), list[str]()
    outbox = Outbox(client.send)
    try:
        for product_id in followed:
            fanout.join(client.subscriber(outbox, product_id, ended), spec(), [product_id], True)
        await settle()
        yield client, ended
    finally:
        await outbox.close()
        await fanout.stop()


def versions(client: Client, product_id: str) -> list[int | str]:
    return [p if p == "complete" else p["v"] for p in client.payloads(product_id)]


async def test_changes_reach_the_fanout_for_followed_products_only() -> None:
    hub = hub_over(doc(5, available=3), doc(1, product_id="other"))
    async with fed(hub, "abc") as (client, _):
        publish(hub, doc(6, available=2), doc(9, available=7, product_id="other"))
        await settle()
    assert versions(client, "abc") == [5, 6] and versions(client, "other") == []


async def test_a_tombstone_ends_what_follows_the_product() -> None:
    hub = hub_over(doc(5))
    async with fed(hub, "abc") as (client, ended):
        hub._dispatch(b"abc", None, [("version", b"6")])
        await settle()
    assert versions(client, "abc") == [5, "complete"] and ended == ["abc"]


async def test_unreadable_changelog_records_are_skipped() -> None:
    hub = hub_over(doc(1))
    async with fed(hub, "abc") as (client, _):
        for junk in (
            b"{not json",
            b'{"_id": "abc", "version": "x"}',
            b'{"_id": "abc", "version": 2, "price": {"amount": "bogus"}}',
            b"[]",
        ):
            hub._dispatch(b"abc", junk)
        publish(hub, doc(3, available=5))
        await settle()
    assert versions(client, "abc") == [1, 3]


async def test_a_restarted_reader_rereads_what_is_followed_gone_included() -> None:
    hub = hub_over(doc(1), doc(1, product_id="def"))
    async with fed(hub, "abc", "def") as (client, ended):
        stored = cast(StoredDocuments, hub._documents).docs
        stored["abc"] = doc(4, available=8)  # Changed while no reader read.
        del stored["def"]  # Deleted meanwhile.
        await hub._reread_subscribed()
        await settle()
    assert versions(client, "abc") == [1, 4]
    assert versions(client, "def") == [1, "complete"] and ended == ["def"]


def test_the_changelog_feeds_the_document_cache_tombstones_included() -> None:
    cache = DocumentCache(10_000, GatewayMetrics())
    hub = ChangelogHub(
        KafkaConnection("unused:9092"),
        "changes",
        cast(ProductDocuments, StoredDocuments()),
        cache=cache,
    )
    hub._dispatch(b"abc", encode_changelog_value(doc(3), CORE.sections))
    cached = cache.lookup("abc")[1]
    assert cached is not None and cached.version == 3
    # Hidden at version 4: an older copy cannot come back.
    hub._dispatch(b"abc", None, [("version", b"4")])
    hub._dispatch(b"abc", encode_changelog_value(doc(3), CORE.sections))
    assert cache.lookup("abc") == (True, None)
    # A tombstone without a readable version, or an unreadable record: forgotten, so
    # MongoDB answers for the product.
    hub._dispatch(b"def", encode_changelog_value(doc(1, product_id="def"), CORE.sections))
    hub._dispatch(b"def", None, [("version", b"\xff")])
    hub._dispatch(b"ghi", encode_changelog_value(doc(1, product_id="ghi"), CORE.sections))
    hub._dispatch(b"ghi", b'{"_id": "ghi", "version": 2, "schema_version": 99}')
    assert cache.lookup("def") == cache.lookup("ghi") == (False, None)
