"""Property: duplicates, replays, crashes and rebalances give the clean pass's documents.

A simulated consumer group delivers a random event log in random batches, with random
interleavings of partitions, redelivered records, crashes between the write and the
commit, crashes half-way through a batch's writes, and replays from the beginning. The
documents it leaves must equal those of one clean pass.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shopwindow.materializer.decode import SourceKind, decode_record
from shopwindow.materializer.events import Position, SourcedEvent, product_ids_of
from shopwindow.materializer.fold import FoldSettings, fold
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
        kind = draw(st.sampled_from(list(SourceKind)))
        product = draw(st.sampled_from(PRODUCTS))
        minutes = draw(st.integers(0, 5))
        key = product
        value: dict[str, Any] | None
        match kind:
            case SourceKind.CATALOG:
                value = draw(
                    st.sampled_from([catalog(product, minutes, name=n) for n in "xyz"] + [None])
                )
            case SourceKind.PRICES:
                value = price(product, draw(st.sampled_from(["9.99", "12.50"])), minutes)
            case SourceKind.INVENTORY:
                value = draw(
                    st.sampled_from(
                        [
                            delta(-1, product, minutes),
                            delta(4, product, minutes),
                            stock_take(5, product, minutes),
                        ]
                    )
                )
            case SourceKind.ORDERS:
                key = f"o{draw(st.integers(1, 6))}"  # Re-used ids: a producer's retries.
                value = order(
                    key,
                    *draw(st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=3)),
                    minutes=minutes,
                )
            case SourceKind.CLICKS:
                key = f"u{draw(st.integers(1, 9))}"
                value = click(product, minutes)
            case SourceKind.REVIEWS:
                value = review(
                    f"r{draw(st.integers(1, 3))}{product}",
                    draw(st.integers(1, 5)),
                    minutes,
                    draw(st.booleans()),
                    product,
                )
        partition = (
            _partition(key)
            if kind is not SourceKind.CLICKS
            else draw(st.integers(0, PARTITIONS - 1))
        )
        topic = kind.value
        decoded = decode_record(kind, key.encode(), encode(value))
        log.append(
            SourcedEvent(
                decoded.event,
                Position(topic, partition, offsets[topic, partition]),
                decoded.event_id,
            )
        )
        offsets[topic, partition] += 1
    return log


def _apply_batch(
    store: dict[str, dict[str, Any]], batch: list[SourcedEvent], written: set[str] | None = None
) -> None:
    by_product: dict[str, list[SourcedEvent]] = defaultdict(list)
    for sourced in batch:
        for product_id in product_ids_of(sourced.event):
            by_product[product_id].append(sourced)
    for product_id, events in by_product.items():
        if written is not None and product_id not in written:
            continue  # The process died before this document's write.
        result = fold(store.get(product_id), product_id, events, SETTINGS)
        if result.document is not None:
            store[product_id] = result.document


def _comparable(store: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = copy.deepcopy(store)
    for doc in out.values():
        del doc["_meta"]["revision"]  # Counts writes, which depend on batching.
        doc["_meta"]["ids"] = sorted(doc["_meta"]["ids"])
    return out


@settings(max_examples=300, deadline=None)
@given(log=event_logs(), data=st.data())
def test_any_delivery_leaves_the_documents_of_one_clean_pass(
    log: list[SourcedEvent], data: st.DataObject
) -> None:
    clean: dict[str, dict[str, Any]] = {}
    _apply_batch(clean, log)

    store: dict[str, dict[str, Any]] = {}
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
            products = sorted({p for s in batch for p in product_ids_of(s.event)})
            _apply_batch(
                store, batch, set(data.draw(st.lists(st.sampled_from(products), unique=True)))
            )
        else:
            _apply_batch(store, batch)
        if mishap == "none":
            for sourced in batch:
                tp = (sourced.position.topic, sourced.position.partition)
                committed[tp] = max(committed[tp], sourced.position.offset + 1)
        elif mishap == "replay":
            committed.clear()  # Someone reset the group's offsets to the beginning.
        mishaps += mishap != "none"

    assert _comparable(store) == _comparable(clean)
