"""The changelog hub on its own: conflation, ordering and value filtering."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from shopwindow.document import encode_changelog_value
from shopwindow.gateway.document_cache import DocumentCache
from shopwindow.gateway.live import ChangelogHub, LiveSubscription
from shopwindow.gateway.loaders import ProductDocuments
from shopwindow.gateway.metrics import GatewayMetrics
from shopwindow.materializer.sources import CORE, inventory
from shopwindow.sale_product import SaleProduct, read_sale_product


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
    return ChangelogHub("unused:9092", "changes", cast(ProductDocuments, StoredDocuments(*docs)))


async def test_a_slow_subscriber_gets_the_latest_value_not_a_queue() -> None:
    subscription = LiveSubscription(["abc"])
    for version in range(1, 21):
        subscription.offer(read_sale_product(doc(version)))
    subscription.offer(read_sale_product(doc(3)))  # A stale copy arriving late changes nothing.
    assert (await subscription.next()).version == 20
    assert subscription._pending == {}


def publish(hub: ChangelogHub, *docs: dict[str, Any]) -> None:
    for change in docs:
        hub._dispatch(change["_id"].encode(), encode_changelog_value(change, CORE.sections))


async def next_of(updates: Any) -> SaleProduct:
    return cast(SaleProduct, await asyncio.wait_for(anext(updates), 1))


async def test_current_value_first_then_newer_changes_of_the_followed_value() -> None:
    hub = hub_over(doc(5, available=3), doc(1, product_id="other"))
    updates = hub.follow(["abc"], lambda d: d.get(inventory.SOURCE).available)
    assert (await next_of(updates)).version == 5
    publish(
        hub,
        doc(4, available=9),  # Older than what was sent: dropped.
        doc(6, available=3),  # Same available stock: nothing to push.
        doc(9, available=7, product_id="other"),  # Not followed.
    )
    publish(hub, doc(7, available=2))
    assert (await next_of(updates)).version == 7
    assert hub.subscriptions == 1
    await updates.aclose()
    assert hub.subscriptions == 0


async def test_a_change_reaches_only_that_products_subscribers() -> None:
    hub = hub_over(doc(1), doc(1, product_id="def"))
    abc = hub.follow(["abc"], lambda d: d.version)
    both = hub.follow(["abc", "def"], lambda d: d.version)
    await next_of(abc)
    assert {(await next_of(both)).id for _ in range(2)} == {"abc", "def"}
    publish(hub, doc(2, product_id="def"))
    assert (await next_of(both)).id == "def"
    pending = asyncio.ensure_future(anext(abc))
    await asyncio.sleep(0.05)
    assert not pending.done()
    pending.cancel()
    await asyncio.gather(pending, return_exceptions=True)
    await abc.aclose()
    await both.aclose()


async def test_unreadable_changelog_records_are_skipped() -> None:
    hub = hub_over(doc(1))
    updates = hub.follow(["abc"], lambda d: d.version)
    await next_of(updates)
    for junk in (
        b"{not json",
        b'{"_id": "abc", "version": "x"}',
        b'{"_id": "abc", "version": 2, "price": {"amount": "bogus"}}',
        b"[]",
    ):
        hub._dispatch(b"abc", junk)
    publish(hub, doc(3))
    assert (await next_of(updates)).version == 3
    await updates.aclose()


def test_the_changelog_feeds_the_document_cache_tombstones_included() -> None:
    cache = DocumentCache(10_000, GatewayMetrics())
    hub = ChangelogHub(
        "unused:9092", "changes", cast(ProductDocuments, StoredDocuments()), cache=cache
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
