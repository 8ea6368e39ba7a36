"""Property: duplicates, replays, crashes and rebalances give the clean pass's documents.

A simulated consumer group delivers a random event log in random batches, with random
interleavings of partitions, redelivered records, crashes between the write and the
commit, crashes half-way through a batch's writes, crashes before keyed state (reviews)
reaches its collection, and replays from the beginning. The documents and the reviews
it leaves must equal those of one clean pass, and every average rating must be exact.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shopwindow.materializer.decode import decode_record
from shopwindow.materializer.events import Position, SourcedEvent
from shopwindow.materializer.fold import FoldSettings, fold
from tests import kinds
from tests.helpers import encode
from tests.materializer.conftest import catalog, click, delta, order, price, review, stock_take

PRODUCTS = ("a", "b", "c")
PARTITIONS = 2
SETTINGS = FoldSettings(low_stock_threshold=3)


def _partition(key: str) -> int:
    return sum(key.encode()) % PARTITIONS  # Stable, like Kafka's key hashing.


@st.composite
def event_logs(draw: st.DrawFn) -> list[SourcedEvent]:
    """A log of mixed events over a few products, with Kafka-like partitioning."""
    offsets: dict[tuple[str, int], int] = defaultdict(int)
    log: list[SourcedEvent] = []
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from(list(kinds.ALL)))
        product = draw(st.sampled_from(PRODUCTS))
        minutes = draw(st.integers(0, 5))
        key = product
        value: dict[str, Any] | None
        match kind:
            case kinds.CATALOG:
                value = draw(
                    st.sampled_from([catalog(product, minutes, name=n) for n in "xyz"] + [None])
                )
            case kinds.PRICES:
                value = price(product, draw(st.sampled_from(["9.99", "12.50"])), minutes)
            case kinds.INVENTORY:
                value = draw(
                    st.sampled_from(
                        [
                            delta(-1, product, minutes),
                            delta(4, product, minutes),
                            stock_take(5, product, minutes),
                        ]
                    )
                )
            case kinds.ORDERS:
                key = f"o{draw(st.integers(1, 6))}"  # Re-used ids: a producer's retries.
                value = order(
                    key,
                    *draw(st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=3)),
                    minutes=minutes,
                )
            case kinds.CLICKS:
                key = f"u{draw(st.integers(1, 9))}"
                value = click(product, minutes)
            case kinds.REVIEWS:
                value = review(
                    f"r{draw(st.integers(1, 3))}{product}",
                    draw(st.integers(1, 5)),
                    minutes,
                    draw(st.booleans()),
                    product,
                )
        partition = (
            _partition(key) if kind is not kinds.CLICKS else draw(st.integers(0, PARTITIONS - 1))
        )
        topic = kind.setting
        decoded = decode_record(kind, key.encode(), encode(value))
        log.append(
            kinds.sourced_event(
                kind,
                decoded.event,
                Position(topic, partition, offsets[topic, partition]),
                decoded.event_id,
            )
        )
        offsets[topic, partition] += 1
    return log


# Per collection, the entries of keyed state by key, as MongoDB would hold them.
Keyed = dict[str, dict[str, dict[str, Any]]]


def _apply_batch(
    store: dict[str, dict[str, Any]],
    keyed: Keyed,
    batch: list[SourcedEvent],
    written: set[str] | None = None,
    flush: bool = True,
) -> None:
    by_product: dict[str, list[SourcedEvent]] = defaultdict(list)
    for sourced in batch:
        for product_id in sourced.topic.product_ids(sourced.event):
            by_product[product_id].append(sourced)
    for product_id, events in by_product.items():
        if written is not None and product_id not in written:
            continue  # The process died before this document's write.
        result = fold(store.get(product_id), product_id, events, SETTINGS, keyed)
        if result.document is not None:
            store[product_id] = result.document
    if flush:  # As the batch writer does once the documents are written.
        for product_id in by_product:
            if product_id in store:
                _flush(store[product_id], keyed)


def _flush(doc: dict[str, Any], keyed: Keyed) -> None:
    for collection, entries in doc["_meta"]["pending"].items():
        _merge(keyed.setdefault(collection, {}), entries.values())
    doc["_meta"]["pending"] = {}


def _merge(target: dict[str, dict[str, Any]], entries: Any) -> None:
    # A newer entry replaces an older one, never the reverse (the store's guarded upsert).
    for entry in entries:
        current = target.get(entry["id"])
        if current is None or tuple(current["key"]) < tuple(entry["key"]):
            target[entry["id"]] = {k: v for k, v in entry.items() if k != "id"}


def _comparable(store: dict[str, dict[str, Any]], keyed: Keyed) -> Any:
    out = copy.deepcopy(store)
    effective = copy.deepcopy(keyed)
    for doc in out.values():
        del doc["_meta"]["revision"]  # Counts writes, which depend on batching.
        doc["_meta"]["ids"] = sorted(doc["_meta"]["ids"])
        # Entries still pending are as good as stored: the fold reads them first.
        _flush(doc, effective)
    return out, effective


def _exact_ratings(log: list[SourcedEvent]) -> dict[str, tuple[int, int]]:
    """Per product, (count, sum) of the reviews whose newest state is not deleted."""
    newest: dict[str, Any] = {}
    for sourced in log:
        if sourced.topic is kinds.REVIEWS:
            event: Any = sourced.event
            key = (event.updated_at, sourced.position.partition, sourced.position.offset)
            if event.review_id not in newest or key > newest[event.review_id][0]:
                newest[event.review_id] = (key, event)
    ratings: dict[str, tuple[int, int]] = defaultdict(lambda: (0, 0))
    for _, event in newest.values():
        if not event.deleted:
            count, total = ratings[event.product_id]
            ratings[event.product_id] = (count + 1, total + event.rating)
    return ratings


@settings(max_examples=300, deadline=None)
@given(log=event_logs(), data=st.data())
def test_any_delivery_leaves_the_documents_of_one_clean_pass(
    log: list[SourcedEvent], data: st.DataObject
) -> None:
    clean: dict[str, dict[str, Any]] = {}
    clean_keyed: Keyed = {}
    _apply_batch(clean, clean_keyed, log)

    store: dict[str, dict[str, Any]] = {}
    keyed: Keyed = {}
    committed: dict[tuple[str, int], int] = defaultdict(int)
    mishaps = 0
    while True:
        queues: dict[tuple[str, int], list[SourcedEvent]] = defaultdict(list)
        for sourced in log:
            tp = (sourced.position.topic, sourced.position.partition)
            if sourced.position.offset >= committed[tp]:
                queues[tp].append(sourced)
        if not queues:
            break
        # A batch: a random interleaving of the partitions' next records, some redelivered.
        batch: list[SourcedEvent] = []
        for _ in range(data.draw(st.integers(1, 12))):
            live = sorted(tp for tp, queue in queues.items() if queue)
            if not live:
                break
            sourced = queues[data.draw(st.sampled_from(live))].pop(0)
            batch.append(sourced)
            if data.draw(st.integers(0, 9)) == 0:
                batch.append(sourced)  # The same record delivered twice.
        mishap = (
            data.draw(st.sampled_from(["none"] * 3 + ["crash", "half", "replay"]))
            if mishaps < 6
            else "none"
        )
        if mishap == "half":
            products = sorted({p for s in batch for p in s.topic.product_ids(s.event)})
            _apply_batch(
                store,
                keyed,
                batch,
                set(data.draw(st.lists(st.sampled_from(products), unique=True))),
                flush=data.draw(st.booleans()),
            )
        elif mishap == "crash":
            _apply_batch(store, keyed, batch, flush=data.draw(st.booleans()))
        else:
            _apply_batch(store, keyed, batch)
        if mishap == "none":
            for sourced in batch:
                tp = (sourced.position.topic, sourced.position.partition)
                committed[tp] = max(committed[tp], sourced.position.offset + 1)
        elif mishap == "replay":
            committed.clear()  # Someone reset the group's offsets to the beginning.
        mishaps += mishap != "none"

    assert _comparable(store, keyed) == _comparable(clean, clean_keyed)
    exact = _exact_ratings(log)
    for product_id, doc in store.items():
        rating = doc["rating"]
        assert (rating["count"], rating["sum"]) == exact[product_id]
        count, total = exact[product_id]
        assert rating["average"] == (round(total / count, 2) if count else None)
