"""Property: duplicates, replays, crashes and rebalances give the clean pass's documents.

A simulated consumer group delivers a random event log in random batches, with random
interleavings of partitions, redelivered records, crashes between the write and the
commit, crashes half-way through a batch's writes, crashes before keyed state (reviews)
reaches its collection, and replays from the beginning. The documents and the reviews
it leaves must equal those of one clean pass, and every rating must equal the one
recomputed from the newest state of each of the product's reviews.

Review ids are drawn from the worst schemes producers use: numbered per product (so
every product has an "r1"), ids with the characters MongoDB field names refuse, and
reviews that move between products, by a plain event naming both or by a Debezium
update whose before-image names the old product. ``make fuzz`` runs it at length.
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
from shopwindow.materializer.sources.base import entry_id
from tests import kinds
from tests.fuzz import SCALE
from tests.helpers import encode
from tests.materializer.conftest import (
    catalog,
    click,
    delta,
    order,
    price,
    review,
    sizes,
    stock_take,
)

PRODUCTS = ("a", "b", "c")
# Per-product numbering shares ids across products; the others need escaping as field
# names ("." and "$") or look like the array the collection's _id is made of.
REVIEW_IDS = ("1", "r.1", "$r", '["a","1"]', "ü")
# SKUs shared by every product (sizes as SKUs), the characters field names refuse, and
# a SKU that spells another's escaped form: each must stay a variant of its own.
SKUS = ("M", "L.1", "$L", "L%2E1", "ü")
PARTITIONS = 2
SETTINGS = FoldSettings(low_stock_threshold=3)


def _review_value(draw: st.DrawFn, review_id: str, product: str, minutes: int) -> dict[str, Any]:
    """A review written, edited, deleted or moved to ``product``, in a producer's shape."""
    value = review(
        review_id,
        draw(st.integers(1, 5)),
        minutes,
        draw(st.booleans()),
        product,
    )
    previous = draw(st.sampled_from((None, None, *PRODUCTS)))
    if previous is None:
        return value
    if draw(st.booleans()):
        return {**value, "previous_product_id": previous}  # An outbox event naming both.
    before = {**value, "product_id": previous, "deleted": False}
    return {"op": "u", "before": before, "after": value}  # A CDC update of the row.


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
                if value is not None:
                    # Listing some SKUs, dropping others, listing them again.
                    value.update(sizes(draw(st.lists(st.sampled_from(SKUS), unique=True))))
            case kinds.PRICES:
                value = price(product, draw(st.sampled_from(["9.99", "12.50"])), minutes)
                value.update(draw(st.sampled_from([{}, *({"sku": sku} for sku in SKUS)])))
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
                value.update(draw(st.sampled_from([{}, *({"sku": sku} for sku in SKUS)])))
            case kinds.ORDERS:
                key = f"o{draw(st.integers(1, 6))}"  # Re-used ids: a producer's retries.
                value = order(
                    key,
                    *draw(st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=3)),
                    minutes=minutes,
                )
                value["lines"] = [
                    {"product_id": line_product, "sku": sku, "quantity": quantity}
                    for line_product, sku, quantity in draw(
                        st.lists(
                            st.tuples(
                                st.sampled_from(PRODUCTS),
                                st.sampled_from(SKUS),
                                st.integers(1, 3),
                            ),
                            max_size=3,
                        )
                    )
                ]
            case kinds.CLICKS:
                key = f"u{draw(st.integers(1, 9))}"
                value = click(product, minutes)
            case kinds.REVIEWS:
                review_id = draw(st.sampled_from(REVIEW_IDS))
                value = _review_value(draw, review_id, product, minutes)
                # Keyed by the review id, as a CDC stream of a reviews table is: every
                # event of a review, its moves included, is in one partition.
                key = f"review:{review_id}"
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


def apply_batch(
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
        read = copy.deepcopy(store.get(product_id))
        result = fold(store.get(product_id), product_id, events, SETTINGS, keyed)
        # The fold shares what it did not change with the document it read, and never
        # writes to it: the writer's cache holds that document.
        assert store.get(product_id) == read
        if result.document is not None:
            store[product_id] = result.document
    if flush:  # As the batch writer does once the documents are written.
        for product_id in by_product:
            if product_id in store:
                _flush(store[product_id], keyed)


def _flush(doc: dict[str, Any], keyed: Keyed) -> None:
    for collection, entries in doc["_meta"]["pending"].items():
        _merge(keyed.setdefault(collection, {}), doc["_id"], entries.values())
    doc["_meta"]["pending"] = {}


def _merge(target: dict[str, dict[str, Any]], product_id: str, entries: Any) -> None:
    # A newer entry replaces an older one, never the reverse (the store's guarded upsert),
    # under the product's identity of the entry, as the store keeps it.
    for entry in entries:
        at = entry_id(product_id, entry["id"])
        current = target.get(at)
        if current is None or tuple(current["key"]) < tuple(entry["key"]):
            target[at] = {k: v for k, v in entry.items() if k != "id"}


def _comparable(store: dict[str, dict[str, Any]], keyed: Keyed) -> Any:
    out = copy.deepcopy(store)
    effective = copy.deepcopy(keyed)
    for doc in out.values():
        del doc["_meta"]["revision"]  # Counts writes, which depend on batching.
        doc["_meta"]["ids"] = sorted(doc["_meta"]["ids"])
        # Entries still pending are as good as stored: the fold reads them first.
        _flush(doc, effective)
    return out, effective


def exact_ratings(log: list[SourcedEvent]) -> dict[str, tuple[int, int]]:
    """Per product, (count, sum) of its reviews whose newest state is not deleted.

    Brute force over the whole log: a review is its (product, review id); an event
    writes that review, and a move also deletes the review of the product it left.
    """
    newest: dict[tuple[str, str], tuple[Any, int | None]] = {}
    for sourced in log:
        if sourced.topic is not kinds.REVIEWS:
            continue
        event: Any = sourced.event
        order = (event.updated_at, sourced.position.partition, sourced.position.offset)
        states = {event.product_id: None if event.deleted else event.rating}
        if event.previous_product_id not in (None, event.product_id):
            states[event.previous_product_id] = None
        for product_id, stars in states.items():
            identity = (product_id, event.review_id)
            if identity not in newest or order > newest[identity][0]:
                newest[identity] = (order, stars)
    ratings: dict[str, tuple[int, int]] = defaultdict(lambda: (0, 0))
    for (product_id, _), (_, stars) in newest.items():
        if stars is not None:
            count, total = ratings[product_id]
            ratings[product_id] = (count + 1, total + stars)
    return ratings


@settings(max_examples=300 * SCALE, deadline=None)
@given(log=event_logs(), data=st.data())
def test_any_delivery_leaves_the_documents_of_one_clean_pass(
    log: list[SourcedEvent], data: st.DataObject
) -> None:
    clean: dict[str, dict[str, Any]] = {}
    clean_keyed: Keyed = {}
    apply_batch(clean, clean_keyed, log)

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
            apply_batch(
                store,
                keyed,
                batch,
                set(data.draw(st.lists(st.sampled_from(products), unique=True))),
                flush=data.draw(st.booleans()),
            )
        elif mishap == "crash":
            apply_batch(store, keyed, batch, flush=data.draw(st.booleans()))
        else:
            apply_batch(store, keyed, batch)
        if mishap == "none":
            for sourced in batch:
                tp = (sourced.position.topic, sourced.position.partition)
                committed[tp] = max(committed[tp], sourced.position.offset + 1)
        elif mishap == "replay":
            committed.clear()  # Someone reset the group's offsets to the beginning.
        mishaps += mishap != "none"

    assert _comparable(store, keyed) == _comparable(clean, clean_keyed)
    assert_exact_ratings(store, log)


def assert_exact_ratings(store: dict[str, dict[str, Any]], log: list[SourcedEvent]) -> None:
    """Every product's rating is the recomputed one, and possible at all."""
    exact = exact_ratings(log)
    for product_id, doc in store.items():
        rating = doc["rating"]
        count, total = exact[product_id]
        assert (rating["count"], rating["sum"]) == (count, total), product_id
        assert count <= total <= 5 * count
        assert rating["average"] == (round(total / count, 2) if count else None)
