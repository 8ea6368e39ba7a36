"""What variants cost the fold: its rate and the document's size at 1, 50 and 2,048.

    make bench-variants            # or: python -m bench.variants --help

In-process, no servers. For each size, one product's catalog lists that many variants
(two options), each SKU gets a price and a stock take, and then a steady stream of
per-SKU stock deltas is folded in batches, as the materializer folds a hot product.
The baseline, in the same run, is today's product without variants taking the same
deltas without a SKU. It prints the fold rate, its ratio to the baseline, and the
stored document's size in BSON (MongoDB's limit is 16 MiB).
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import bson
import orjson

from bench.common import report
from shopwindow.materializer.decode import decode_record
from shopwindow.materializer.events import Position, SourcedEvent
from shopwindow.materializer.fold import FoldSettings, fold
from shopwindow.materializer.sources import CORE
from shopwindow.mongo import CODEC_OPTIONS

SETTINGS = FoldSettings()
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _listing(variants: int) -> dict[str, Any]:
    if variants == 0:
        return {}
    colors = max(1, variants // 64)
    sizes = -(-variants // colors)
    skus = [(f"SKU-{n:05d}", str(n % sizes), f"c{n // sizes}") for n in range(variants)]
    return {
        "options": [
            {"name": "size", "values": [str(s) for s in range(sizes)]},
            {"name": "color", "values": [f"c{c}" for c in range(colors)]},
        ],
        "variants": [
            {"sku": sku, "options": {"size": size, "color": color}, "barcode": f"400{n:010d}"}
            for n, (sku, size, color) in enumerate(skus)
        ],
    }


class _Log:
    def __init__(self) -> None:
        self._routes = {
            topic.setting: (source, topic) for source in CORE.sources for topic in source.topics
        }
        self._offset = 0

    def event(self, setting: str, value: dict[str, Any]) -> SourcedEvent:
        source, topic = self._routes[setting]
        decoded = decode_record(topic, b"p", orjson.dumps(value, default=str), [])
        self._offset += 1
        return SourcedEvent(
            decoded.event, Position(setting, 0, self._offset), source, topic, decoded.event_id
        )


def _run(variants: int, deltas: int, batch: int) -> tuple[float, int]:
    log = _Log()
    listing = _listing(variants)
    skus = [v["sku"] for v in listing.get("variants", [])] or [None]
    first = [
        log.event("catalog", {"product_id": "p", "name": "Shirt", "updated_at": T0, **listing}),
        *(
            log.event(
                "prices",
                {"product_id": "p", "currency": "EUR", "amount": "9.99", "updated_at": T0}
                | ({"sku": sku} if sku else {}),
            )
            for sku in skus
        ),
        *(
            log.event(
                "inventory",
                {"product_id": "p", "quantity": 50, "timestamp": T0}
                | ({"sku": sku} if sku else {}),
            )
            for sku in skus
        ),
    ]
    doc = fold(None, "p", first, SETTINGS).document
    assert doc is not None
    rng = random.Random(3)
    stream = [
        log.event(
            "inventory",
            {
                "product_id": "p",
                "quantity_change": rng.choice((-1, 1)),
                "timestamp": T0 + timedelta(seconds=n),
            }
            | ({"sku": rng.choice(skus)} if skus[0] else {}),
        )
        for n in range(deltas)
    ]
    started = time.perf_counter()
    for start in range(0, deltas, batch):
        doc = fold(doc, "p", stream[start : start + batch], SETTINGS).document or doc
    rate = deltas / (time.perf_counter() - started)
    size = len(bson.encode(doc, codec_options=CODEC_OPTIONS))
    return rate, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deltas", type=int, default=20_000)
    parser.add_argument(
        "--batch", type=int, default=20, help="events of the product per folded batch"
    )
    args = parser.parse_args()
    base_rate, base_size = _run(0, args.deltas, args.batch)
    rows = [("no variants (baseline)", base_rate, base_size)]
    for variants in (1, 50, 2048):
        rate, size = _run(variants, args.deltas, args.batch)
        rows.append((f"{variants:,} variants", rate, size))
    lines = [
        (name, f"{rate:>10,.0f} deltas/s  {rate / base_rate:>5.2f}x  {size / 1024:>8,.1f} KiB")
        for name, rate, size in rows
    ]
    report(f"fold of per-SKU stock deltas, {args.deltas:,} in batches of {args.batch}", lines)


if __name__ == "__main__":
    main()
