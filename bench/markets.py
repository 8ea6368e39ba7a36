"""What markets and languages cost: the document's size, the fold's rate and the
changelog bytes per change, at 50 variants in 10 markets and 5 languages.

    make bench-markets            # or: python -m bench.markets --help

In-process, no servers. The product lists 50 variants; each SKU gets a price in each
market, the catalog record carries 5 translations, and then a steady stream of per-SKU
price changes in random markets is folded in batches, each change's document encoded
for the changelog as the materializer publishes it. The baseline, in the same run, is
today's single-market product of 50 variants taking the same stream in its one market.
It prints the fold rate and its ratio, the stored document's size in BSON, and the
changelog bytes per change.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

import bson

from bench.common import report
from bench.variants import _listing, _Log
from shopwindow.document import encode_changelog_value
from shopwindow.materializer.fold import FoldSettings, fold
from shopwindow.materializer.sources import CORE
from shopwindow.mongo import CODEC_OPTIONS

T0 = datetime(2026, 1, 1, tzinfo=UTC)
VARIANTS = 50
LANGUAGES = ("de", "fr", "it", "es", "nl")
SECTIONS = CORE.sections  # what the changelog carries


def _markets(count: int) -> tuple[str, ...]:
    return tuple(f"m{n}" for n in range(count))


def _run(markets: int, languages: int, changes: int, batch: int) -> tuple[float, int, float]:
    names = _markets(markets) if markets > 1 else ("default",)
    settings = FoldSettings(markets=frozenset(names), default_market=names[0])
    log = _Log()
    listing = _listing(VARIANTS)
    skus = [variant["sku"] for variant in listing["variants"]]
    translations = {
        tag: {"name": f"Hemd ({tag})", "description": "Aus Baumwolle. " * 20}
        for tag in LANGUAGES[:languages]
    }
    catalog = {"product_id": "p", "name": "Shirt", "updated_at": T0, **listing}
    if translations:
        catalog["translations"] = translations
    first = [
        log.event("catalog", catalog),
        *(
            log.event(
                "prices",
                {"product_id": "p", "currency": "EUR", "amount": "9.99", "updated_at": T0}
                | {"sku": sku}
                | ({"market": market} if market != names[0] else {}),
            )
            for sku in skus
            for market in names
        ),
        *(
            log.event("inventory", {"product_id": "p", "quantity": 50, "timestamp": T0, "sku": sku})
            for sku in skus
        ),
    ]
    doc = fold(None, "p", first, settings).document
    assert doc is not None
    rng = random.Random(5)
    stream = []
    for n in range(changes):
        market = rng.choice(names)
        stream.append(
            log.event(
                "prices",
                {
                    "product_id": "p",
                    "currency": "EUR",
                    "amount": f"{rng.randint(500, 999) / 100:.2f}",
                    "updated_at": T0 + timedelta(minutes=n),
                    "sku": rng.choice(skus),
                }
                | ({"market": market} if market != names[0] else {}),
            )
        )
    changelog_bytes = 0
    published = 0
    started = time.perf_counter()
    for start in range(0, changes, batch):
        result = fold(doc, "p", stream[start : start + batch], settings).document
        if result is not None:
            doc = result
            changelog_bytes += len(encode_changelog_value(doc, SECTIONS))
            published += 1
    rate = changes / (time.perf_counter() - started)
    size = len(bson.encode(doc, codec_options=CODEC_OPTIONS))
    return rate, size, changelog_bytes / max(1, published)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=5_000)
    parser.add_argument(
        "--batch", type=int, default=1, help="price changes of the product per folded batch"
    )
    args = parser.parse_args()
    base = _run(1, 0, args.changes, args.batch)
    rows = [("one market, no translations (baseline)", *base)]
    rows.append(("10 markets, 5 languages", *_run(10, 5, args.changes, args.batch)))
    lines = [
        (
            name,
            f"{rate:>8,.0f} changes/s  {rate / base[0]:>5.2f}x  document {size / 1024:>7,.1f} KiB"
            f" ({size / base[1]:>4.1f}x)  changelog {per_change / 1024:>7,.1f} KiB/change"
            f" ({per_change / base[2]:>4.1f}x)",
        )
        for name, rate, size, per_change in rows
    ]
    report(
        f"{VARIANTS} variants: per-SKU price changes in random markets, {args.changes:,} "
        f"in batches of {args.batch}, each published to the changelog",
        lines,
    )


if __name__ == "__main__":
    main()
