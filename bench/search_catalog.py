"""A realistic catalog for the search benchmark: brands, names, descriptions,
attributes and prices the way a general store has them, and the queries shoppers type.

Everything is drawn from a seeded generator, so every run searches the same catalog.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

CATEGORIES = {
    "shoes": ["sneaker", "boot", "sandal", "loafer", "trainer", "slipper", "espadrille"],
    "jackets": ["parka", "raincoat", "blazer", "anorak", "fleece", "windbreaker", "gilet"],
    "kitchen": ["kettle", "teapot", "skillet", "saucepan", "blender", "toaster", "grinder"],
    "electronics": ["headphones", "speaker", "charger", "keyboard", "monitor", "webcam"],
    "furniture": ["armchair", "bookcase", "desk", "wardrobe", "sofa", "ottoman", "dresser"],
    "outdoor": ["backpack", "tent", "lantern", "hammock", "compass", "sleeping bag"],
    "beauty": ["shampoo", "lotion", "perfume", "serum", "conditioner", "moisturiser"],
    "toys": ["puzzle", "robot", "kite", "marbles", "building blocks", "train set"],
    "garden": ["planter", "hose", "trowel", "birdhouse", "lawnmower", "pruner"],
    "sports": ["racket", "football", "yoga mat", "dumbbell", "helmet", "skateboard"],
}
ADJECTIVES = [
    "classic", "ultralight", "waterproof", "vintage", "premium", "compact", "wireless",
    "organic", "ergonomic", "deluxe", "rugged", "slim", "portable", "heated", "foldable",
    "insulated", "handmade", "professional", "modern", "rustic", "breathable", "quiet",
]  # fmt: skip
MATERIALS = [
    "leather", "cotton", "wool", "steel", "bamboo", "ceramic", "denim", "suede", "oak",
    "linen", "aluminium", "walnut", "silicone", "merino", "canvas", "glass",
]  # fmt: skip
COLOURS = [
    "red", "blue", "black", "white", "green", "grey", "navy", "olive", "beige", "yellow",
    "burgundy", "teal", "charcoal", "sand",
]  # fmt: skip
SIZES = ["XS", "S", "M", "L", "XL", "36", "38", "40", "42", "44", "one size"]
APPAREL_SIZES = ["XS", "S", "M", "L", "XL", "XXL"]
SYLLABLES = [
    "nor", "vik", "al", "tu", "ra", "kes", "mon", "do", "li", "ber", "ska", "fen", "or",
    "ta", "vel", "ro", "zen", "qui", "mar", "lo", "den", "sa", "tor", "ix",
]  # fmt: skip
PHRASES = [
    "built to last", "for everyday use", "easy to clean", "made in small batches",
    "with a lifetime guarantee", "loved by our customers", "for home and travel",
    "designed in Copenhagen", "tested in the Alps", "gentle on sensitive skin",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class CatalogProduct:
    """The source events of one benchmark product, as producers would send them."""

    product_id: str
    catalog: dict[str, Any]
    prices: list[dict[str, Any]]
    stocks: list[dict[str, Any]]


def brands(rng: random.Random, count: int = 400) -> list[str]:
    """Pronounceable brand names."""
    names: set[str] = set()
    while len(names) < count:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))
        names.add(word.capitalize())
    return sorted(names)


def products(count: int, seed: int = 11, variants: int = 0) -> Iterator[CatalogProduct]:
    """``count`` products across the categories, with skewed brand popularity; with
    ``variants``, each sold in that many sizes and colours, stock and some prices per
    SKU."""
    rng = random.Random(seed)
    makers = brands(rng)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(count):
        category = rng.choice(list(CATEGORIES))
        noun = rng.choice(CATEGORIES[category])
        adjective, material, colour = (
            rng.choice(ADJECTIVES),
            rng.choice(MATERIALS),
            rng.choice(COLOURS),
        )
        # A few brands carry much of the catalog, as in a real store.
        brand = makers[int(len(makers) * rng.random() ** 2.5)]
        model = f"{rng.choice('ABCDEFGHKMPRSTVXZ')}{rng.randint(10, 990)}"
        amount = round(min(rng.lognormvariate(3.6, 0.9), 4999.0), 2)
        product_id = f"sp{n:06d}"
        stamp = (base + timedelta(minutes=n)).isoformat().replace("+00:00", "Z")
        price = {
            "product_id": product_id,
            "currency": "EUR",
            "amount": f"{amount:.2f}",
            "list_amount": f"{amount * 1.2:.2f}" if rng.random() < 0.3 else None,
            "segment_amounts": {"gold": f"{amount * 0.9:.2f}"} if rng.random() < 0.2 else {},
            "updated_at": stamp,
        }
        listing: dict[str, Any] = {
            "product_id": product_id,
            "name": f"{adjective.title()} {material.title()} {noun.title()} {model}",
            "brand": brand,
            "category": category,
            "description": f"A {colour} {material} {noun} by {brand}, "
            f"{rng.choice(PHRASES)} and {rng.choice(PHRASES)}.",
            "attributes": {"colour": colour, "material": material, "size": rng.choice(SIZES)},
            "created_at": stamp,
            "updated_at": stamp,
        }
        stock = {"product_id": product_id, "quantity": rng.randint(0, 40), "timestamp": stamp}
        if not variants:
            yield CatalogProduct(product_id, listing, [price], [stock])
            continue
        sizes = rng.sample(APPAREL_SIZES, 3)
        colours = rng.sample(COLOURS, -(-variants // 3))
        combos = rng.sample([(z, c) for z in sizes for c in colours], variants)
        skus = [f"{product_id}-{z}-{c}" for z, c in combos]
        listing["options"] = [
            {"name": "size", "values": [z for z in sizes if any(z == x for x, _ in combos)]},
            {"name": "color", "values": [c for c in colours if any(c == y for _, y in combos)]},
        ]
        listing["variants"] = [
            {"sku": sku, "options": {"size": z, "color": c}}
            for sku, (z, c) in zip(skus, combos, strict=True)
        ]
        # The largest size costs a tenth more, as sizes often do.
        dearer = {**price, "sku": skus[0], "amount": f"{amount * 1.1:.2f}"}
        yield CatalogProduct(
            product_id,
            listing,
            [price, dearer],
            [{**stock, "sku": sku, "quantity": rng.randint(0, 8)} for sku in skus],
        )


def typo(word: str, rng: random.Random) -> str:
    """``word`` with one letter changed (words of five letters or more)."""
    position = rng.randrange(1, len(word) - 1)
    replacement = rng.choice([c for c in "aeiourstln" if c != word[position]])
    return word[:position] + replacement + word[position + 1 :]


def queries(rng: random.Random, count: int = 60) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(kind, variables)`` of shopper queries: one word, two words, a typo, a prefix,
    filtered with facets, and sorted by price."""
    makers = brands(random.Random(11))
    nouns = [n for names in CATEGORIES.values() for n in names if " " not in n]
    long_nouns = [n for n in nouns if len(n) >= 6]
    for _ in range(count):
        noun = rng.choice(nouns)
        yield "one word", {"q": noun}
        yield "two words", {"q": f"{rng.choice(ADJECTIVES)} {noun}"}
        yield "typo", {"q": typo(rng.choice(long_nouns), rng)}
        yield "prefix", {"q": f"{rng.choice(MATERIALS)} {noun[: rng.randint(3, 4)]}"}
        yield (
            "filtered, facets",
            {
                "q": noun,
                "filter": {"brands": rng.sample(makers[:20], 2), "priceMax": "100"},
                "facets": True,
            },
        )
        yield "price-sorted", {"q": rng.choice(MATERIALS), "sort": "PRICE_ASC"}


def option_queries(rng: random.Random, count: int = 60) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(kind, variables)`` of shoppers narrowing by size and colour, with facets."""
    nouns = [n for names in CATEGORIES.values() for n in names if " " not in n]
    for _ in range(count):
        yield (
            "options, facets",
            {
                "q": rng.choice(nouns),
                "filter": {
                    "options": [
                        {"name": "size", "values": [rng.choice(APPAREL_SIZES)]},
                        {"name": "color", "values": rng.sample(COLOURS, 2)},
                    ],
                    "inStock": True,
                },
                "facets": True,
            },
        )
        yield (
            "options, price-sorted",
            {
                "filter": {"options": [{"name": "size", "values": [rng.choice(APPAREL_SIZES)]}]},
                "sort": "PRICE_ASC",
            },
        )
