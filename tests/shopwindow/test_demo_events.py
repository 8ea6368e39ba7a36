"""Demo events: what a newcomer sees on the storefront should make sense."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

from shopwindow.demo_events import DemoEvents, product_ids
from shopwindow.topics import TopicNames


def test_a_products_name_carries_its_brand_in_every_catalog_record() -> None:
    events = DemoEvents(TopicNames(), product_ids(50), random.Random(7))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    seen: dict[str, set[tuple[str, str]]] = {}
    for product_id in product_ids(50):
        for _ in range(3):
            row = json.loads(events.catalog(product_id, now).value)["payload"]["after"]
            seen.setdefault(product_id, set()).add((row["brand"], row["name"]))
    for product_id, drawn in seen.items():
        assert len(drawn) == 1, (product_id, drawn)  # The same brand every time.
        ((brand, name),) = drawn
        assert name.startswith(f"{brand} "), (brand, name)
    assert len({brand for ((brand, _),) in map(tuple, seen.values())}) > 1
