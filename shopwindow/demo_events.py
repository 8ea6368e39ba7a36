"""Realistic source events, for the demo traffic and the benchmarks.

Pure: a seeded ``random.Random`` and a clock in, ``(topic, key, value, headers)`` out,
in the formats the sources really use (plain JSON, Debezium CDC, the outbox router).
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shopwindow.materializer.sources import CORE
from shopwindow.topics import TopicNames

CATEGORIES = ("shoes", "jackets", "bags", "watches", "shirts")
BRANDS = ("Northwind", "Acme", "Globex", "Initech", "Umbrella")
SEGMENTS = ("gold", "silver")
SIZES = ("XS", "S", "M", "L", "XL")
COLOURS = ("black", "white", "navy", "olive", "red", "sand")
# The first demo product, which the docs' examples name: a T-shirt in three sizes and
# two colours, no large white one made.
FIRST_PRODUCT = "abc"
FIRST_SKU = "ABC-M-BLACK"


@dataclass(frozen=True, slots=True)
class Layout:
    """The options and SKUs a product is sold in; the same every time it is drawn."""

    options: tuple[tuple[str, tuple[str, ...]], ...]
    variants: tuple[tuple[str, tuple[str, ...]], ...]  # (SKU, a value per option)

    def listing(self) -> dict[str, Any]:
        """The ``options`` and ``variants`` fields of a catalog record."""
        names = [name for name, _ in self.options]
        return {
            "options": [{"name": name, "values": list(values)} for name, values in self.options],
            "variants": [
                {"sku": sku, "options": dict(zip(names, values, strict=True))}
                for sku, values in self.variants
            ],
        }


def layout(product_id: str, variants: int | None) -> Layout | None:
    """How ``product_id`` is sold: ``variants`` SKUs in sizes and colours, none for 0.

    ``None`` draws a demo shop's mix from the id alone, so that every catalog record of
    a product lists the same SKUs: two products in three come in 3-4 sizes and 1-3
    colours, one combination in five not made; the rest in one variant. ``abc`` always
    comes in S, M and L, black and white, without a white L.
    """
    if variants == 0:
        return None
    rng = random.Random(f"layout:{product_id}")
    sizes: tuple[str, ...]
    colours: tuple[str, ...]
    if variants is None and product_id == FIRST_PRODUCT:
        sizes, colours = ("S", "M", "L"), ("black", "white")
        made = [(z, c) for c in colours for z in sizes if (z, c) != ("L", "white")]
    elif variants is None:
        if rng.random() < 1 / 3:
            return None
        first = rng.randint(0, 1)
        sizes = SIZES[first : first + rng.randint(3, 4)]
        colours = tuple(rng.sample(COLOURS, rng.randint(1, 3)))
        combos = [(z, c) for c in colours for z in sizes]
        made = [combo for combo in combos if rng.random() >= 0.2] or combos[:1]
    else:
        colours = tuple(f"{COLOURS[n % len(COLOURS)]}{n // len(COLOURS) or ''}"
                        for n in range(-(-variants // len(SIZES))))  # fmt: skip
        sizes = SIZES[: min(variants, len(SIZES))]
        made = [(z, c) for c in colours for z in sizes][:variants]
    used_sizes = tuple(z for z in sizes if any(z == m for m, _ in made))
    used_colours = tuple(c for c in colours if any(c == m for _, m in made))
    return Layout(
        options=(("size", used_sizes), ("color", used_colours)),
        variants=tuple((f"{product_id}-{z}-{c}".upper(), (z, c)) for z, c in made),
    )


def brand_and_name(product_id: str) -> tuple[str, str]:
    """A product's brand and the name it is sold under, which begins with that brand;
    drawn from the id alone, so that every catalog record of a product agrees."""
    rng = random.Random(f"brand:{product_id}")
    brand = rng.choice(BRANDS)
    return brand, f"{brand} {rng.choice(('Classic', 'Pro', 'Air', 'Lite'))} {product_id}"


@dataclass(frozen=True, slots=True)
class DemoRecord:
    """One record to produce."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def product_ids(count: int) -> list[str]:
    """Demo product ids; the first is ``abc``, as in the README's example query."""
    return [FIRST_PRODUCT, *(f"p{n:06d}" for n in range(1, count))][:count]


def _iso(now: datetime) -> str:
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def debezium(row: dict[str, Any], now: datetime) -> bytes:
    """A Debezium change event (``op: u``) with the ``schema``/``payload`` wrapper."""
    ts_ms = int(now.timestamp() * 1000)
    return _json(
        {"schema": {}, "payload": {"before": None, "after": row, "op": "u", "ts_ms": ts_ms}}
    )


def outbox(payload: dict[str, Any]) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The outbox event router's shape: the payload as a JSON string, id in a header."""
    return _json(json.dumps(payload)), [("id", str(uuid.uuid4()).encode())]


class DemoEvents:
    """Generates a product page's worth of traffic.

    Args:
        topics: Where each kind of event goes.
        products: The product ids.
        rng: Seeded randomness.
        zipf_s: Popularity skew; 0 is uniform, about 1 is the classic long tail.
        variants: SKUs per product: ``None`` for a demo shop's mix of products in sizes
            and colours and products in one variant (``layout``), 0 for none, else that
            many each. Stock moves, orders and some prices then name SKUs.
    """

    # Mostly stock movements and clicks, as on a real shop.
    MIX = (
        ("inventory", 40),
        ("clicks", 40),
        ("orders", 8),
        ("reviews", 5),
        ("prices", 5),
        ("catalog", 2),
    )

    def __init__(
        self,
        topics: TopicNames,
        products: Sequence[str],
        rng: random.Random,
        zipf_s: float = 1.0,
        variants: int | None = None,
    ) -> None:
        self._layouts = {product_id: layout(product_id, variants) for product_id in products}
        self._topic = {t.setting: topics.source(t.setting, t.default_name) for t in CORE.topics}
        self._products = list(products)
        self._rng = rng
        weights = [1 / (rank**zipf_s) for rank in range(1, len(products) + 1)]
        self._cumulative = list(itertools.accumulate(weights))
        self._kinds = [kind for kind, _ in self.MIX]
        self._kind_weights = list(itertools.accumulate(weight for _, weight in self.MIX))

    def pick_product(self) -> str:
        """A product, popular ones more often."""
        point = self._rng.random() * self._cumulative[-1]
        return self._products[bisect.bisect_left(self._cumulative, point)]

    def initial(self, now: datetime) -> Iterator[DemoRecord]:
        """Catalog record, price and stock level of every product."""
        for product_id in self._products:
            yield self.catalog(product_id, now)
            yield self.price(product_id, now)
            sold_as = self._layouts[product_id]
            skus = [sku for sku, _ in sold_as.variants] if sold_as else [None]
            for sku in skus:
                # Per SKU, a few units; some sold out, so that pickers show it.
                quantity = (
                    self._rng.randint(0, 200)
                    if sku is None
                    else self._rng.choice((0, 1, 3, 8, 12, 25))
                )
                data = {"product_id": product_id, "quantity": quantity, "timestamp": _iso(now)}
                value = _json(data if sku is None else {**data, "sku": sku})
                yield DemoRecord(self._topic["inventory"], product_id.encode(), value, [])
            if sold_as and len(skus) > 2:
                # The largest size costs more, as sizes often do.
                yield self.price(product_id, now, sku=skus[-1])

    def next(self, now: datetime) -> DemoRecord:
        """One event of the steady mix."""
        point = self._rng.random() * self._kind_weights[-1]
        kind = self._kinds[bisect.bisect_left(self._kind_weights, point)]
        product_id = self.pick_product()
        match kind:
            case "inventory":
                change = self._rng.choice((-1, -1, -1, -2, 5, 10))
                data = {"product_id": product_id, "quantity_change": change, "timestamp": _iso(now)}
                sku = self.pick_sku(product_id)
                if sku is not None:
                    data["sku"] = sku
                return DemoRecord(self._topic["inventory"], product_id.encode(), _json(data), [])
            case "clicks":
                user = f"u{self._rng.randint(1, 50_000)}"
                data = {"user_id": user, "product_id": product_id, "timestamp": _iso(now)}
                return DemoRecord(self._topic["clicks"], user.encode(), _json(data), [])
            case "orders":
                return self.order(now)
            case "reviews":
                return self.review(product_id, now)
            case "prices":
                return self.price(product_id, now)
            case _:
                return self.catalog(product_id, now)

    def catalog(self, product_id: str, now: datetime) -> DemoRecord:
        """A catalog snapshot, as a Debezium change event."""
        rng = self._rng
        brand, name = brand_and_name(product_id)
        row = {
            "product_id": product_id,
            "name": name,
            "description": "A demo product.",
            "brand": brand,
            "category": rng.choice(CATEGORIES),
            "images": [f"https://img.example.com/{product_id}/{n}.jpg" for n in range(2)],
            "attributes": {"material": rng.choice(("cotton", "leather", "wool"))},
            "updated_at": _iso(now),
        }
        sold_as = self._layouts[product_id]
        if sold_as is not None:
            row |= sold_as.listing()
        return DemoRecord(self._topic["catalog"], product_id.encode(), debezium(row, now), [])

    def pick_sku(self, product_id: str) -> str | None:
        """One of the product's SKUs; ``None`` for a product in one variant."""
        sold_as = self._layouts[product_id]
        return None if sold_as is None else self._rng.choice(sold_as.variants)[0]

    def price(self, product_id: str, now: datetime, sku: str | None = None) -> DemoRecord:
        """A price snapshot, through the outbox; of one SKU when ``sku`` is given."""
        list_cents = self._rng.randint(999, 29_999)
        cents = list_cents - self._rng.choice((0, 0, list_cents // 10, list_cents // 5))
        payload = {
            "product_id": product_id,
            "currency": "EUR",
            "amount": f"{cents / 100:.2f}",
            "list_amount": f"{list_cents / 100:.2f}",
            "segment_amounts": {"gold": f"{cents * 0.9 / 100:.2f}"},
            "updated_at": _iso(now),
        }
        if sku is not None:
            payload["sku"] = sku
        value, headers = outbox(payload)
        return DemoRecord(self._topic["prices"], product_id.encode(), value, headers)

    def order(self, now: datetime) -> DemoRecord:
        """An order of one to three products, a line each, keyed by order id."""
        order_id = f"o{self._rng.getrandbits(48):012x}"
        items = list(dict.fromkeys(self.pick_product() for _ in range(self._rng.randint(1, 3))))
        data = {
            "order_id": order_id,
            "user_id": f"u{self._rng.randint(1, 50_000)}",
            "product_ids": items,
            "lines": [
                {
                    "product_id": item,
                    "sku": self.pick_sku(item),
                    "quantity": self._rng.choice((1, 1, 1, 2, 3)),
                }
                for item in items
            ],
            "amount": round(self._rng.uniform(10, 300), 2),
            "timestamp": _iso(now),
        }
        return DemoRecord(self._topic["orders"], order_id.encode(), _json(data), [])

    def review(self, product_id: str, now: datetime) -> DemoRecord:
        """A new, edited or moved review, keyed by review id as a reviews table's CDC is.

        Review ids are numbered per product, as many review systems do, so every
        product has an ``r1``; one review in ten moves here from another product (a
        Debezium update whose before-image names the old product).
        """
        rng = self._rng
        review_id = f"r{rng.randint(1, 20)}"
        data = {
            "review_id": review_id,
            "product_id": product_id,
            "rating": rng.randint(1, 5),
            "deleted": rng.random() < 0.05,
            "updated_at": _iso(now),
        }
        if rng.random() < 0.1:
            before = {**data, "product_id": self.pick_product(), "deleted": False}
            ts_ms = int(now.timestamp() * 1000)
            value = _json({"before": before, "after": data, "op": "u", "ts_ms": ts_ms})
        else:
            value = _json(data)
        return DemoRecord(self._topic["reviews"], review_id.encode(), value, [])
