"""What the typed document contract costs, in the fold and in the readers.

    make bench-contract            # or: python -m bench.contract --help

In-process, no servers. Over realistic documents (the demo traffic's first events of
each product, then a steady mix), it times:

* the fold as it runs: plain dicts typed by TypedDicts, which cost nothing at run time;
* the fold plus a pydantic validation of each document it returns (what a pydantic
  contract would add), the alternative we did not take;
* reading each document through ``SaleProduct`` and every core section, which the
  gateway and the subscriptions do once per document served.

It prints each rate and its ratio to the bare fold.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter

from bench.common import report
from shopwindow.demo_events import DemoEvents
from shopwindow.document import StoredDocument
from shopwindow.materializer.decode import decode_record
from shopwindow.materializer.events import Position, SourcedEvent
from shopwindow.materializer.fold import FoldSettings, fold
from shopwindow.materializer.sources import CORE
from shopwindow.sale_product import read_sale_product
from shopwindow.topics import TopicNames

SETTINGS = FoldSettings()


def _events(count: int, products: int) -> tuple[dict[str, list[SourcedEvent]], list[Any]]:
    topics = TopicNames()
    routes = CORE.routes(topics)
    demo = DemoEvents(topics, [f"p{n:05d}" for n in range(products)], random.Random(5))
    now = datetime.now(UTC)
    initial: dict[str, list[SourcedEvent]] = {}
    steady: list[tuple[str, SourcedEvent]] = []
    records = [*demo.initial(now)]
    steady_records = [demo.next(now) for _ in range(count)]
    for offset, record in enumerate([*records, *steady_records]):
        source, topic = routes[record.topic]
        decoded = decode_record(topic, record.key, record.value, record.headers)
        sourced = SourcedEvent(
            decoded.event, Position(record.topic, 0, offset), source, topic, decoded.event_id
        )
        for product_id in topic.product_ids(decoded.event):
            if offset < len(records):
                initial.setdefault(product_id, []).append(sourced)
            else:
                steady.append((product_id, sourced))
    return initial, steady


def _rate(run: Callable[[], int], repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        done = run()
        best = max(best, done / (time.perf_counter() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.contract")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()

    initial, steady = _events(args.events, args.products)
    start = {pid: fold(None, pid, evs, SETTINGS).document for pid, evs in initial.items()}
    validator = TypeAdapter(StoredDocument)

    def fold_all(validate: bool) -> Callable[[], int]:
        def run() -> int:
            docs = dict(start)
            for product_id, sourced in steady:
                result = fold(docs.get(product_id), product_id, [sourced], SETTINGS)
                if result.document is not None:
                    if validate:
                        validator.validate_python(result.document)
                    docs[product_id] = result.document
            return len(steady)

        return run

    documents = [doc for doc in start.values() if doc is not None]

    def read_all() -> int:
        for _ in range(10):
            for doc in documents:
                product = read_sale_product(doc)
                for source in CORE.sources:
                    product.get(source)
        return 10 * len(documents)

    bare = _rate(fold_all(validate=False), args.repeat)
    validated = _rate(fold_all(validate=True), args.repeat)
    reads = _rate(read_all, args.repeat)
    report(
        f"document contract: {len(steady)} events over {len(documents)} products",
        [
            ("fold, TypedDict contract (ours)", f"{bare:,.0f} events/s  1.00x"),
            ("fold + pydantic validation", f"{validated:,.0f} events/s  {validated / bare:.2f}x"),
            (
                "read through SaleProduct, all sections",
                f"{reads:,.0f} documents/s  ({1e6 / reads:.1f} us per document)",
            ),
        ],
    )


if __name__ == "__main__":
    main()
