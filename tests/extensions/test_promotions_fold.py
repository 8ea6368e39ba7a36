"""The promotions example on its own: decoding and folding, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from shopwindow_promotions import SOURCE, TOPIC, extension

from shopwindow.materializer.decode import decode_record
from shopwindow.materializer.errors import PoisonEvent
from shopwindow.materializer.events import Position, SourcedEvent
from shopwindow.materializer.fold import FoldSettings, fold
from shopwindow.materializer.sources import CORE
from shopwindow.sale_product import read_sale_product
from tests.helpers import encode

SETTINGS = FoldSettings(sources=(*CORE.sources, *extension.sources))
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def promotion(promotion_id: str = "p1", **fields: Any) -> dict[str, Any]:
    return {
        "product_id": "abc",
        "promotion_id": promotion_id,
        "label": "Black Friday",
        "discount_percent": "20",
        "starts_at": "2026-11-20T00:00:00Z",
        "ends_at": "2026-11-30T00:00:00Z",
        **fields,
    }


def run(values: list[dict[str, Any] | None]) -> list[tuple[str, str]]:
    doc = None
    for offset, value in enumerate(values):
        decoded = decode_record(TOPIC, b"abc", encode(value))
        event = SourcedEvent(decoded.event, Position("promotions", 0, offset), SOURCE, TOPIC)
        doc = fold(doc, "abc", [event], SETTINGS).document or doc
    assert doc is not None
    active = read_sale_product(doc).get(SOURCE).active_at(NOW)
    return [(str(p.id), p.label) for p in active]


CASES: list[tuple[str, list[dict[str, Any] | None], list[tuple[str, str]]]] = [
    ("a running promotion is listed", [promotion()], [("p1", "Black Friday")]),
    ("a change replaces it", [promotion(), promotion(label="Cyber")], [("p1", "Cyber")]),
    ("a deletion removes it", [promotion(), promotion(deleted=True)], []),
    (
        "one that has not started is not listed",
        [promotion(starts_at="2026-12-01T00:00:00Z", ends_at="2026-12-02T00:00:00Z")],
        [],
    ),
    ("one that has ended is not listed", [promotion(ends_at="2026-11-21T00:00:00Z")], []),
    (
        "an older update cannot bring back a deleted promotion",
        [
            promotion(updated_at="2026-11-20T10:00:00Z", deleted=True),
            promotion(updated_at="2026-11-20T09:00:00Z"),
        ],
        [],
    ),
    (
        "several run at once, soonest ending first",
        [promotion("late"), promotion("soon", ends_at="2026-11-25T00:00:00Z")],
        [("soon", "Black Friday"), ("late", "Black Friday")],
    ),
]


@pytest.mark.parametrize(("values", "active"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_promotions_fold(
    values: list[dict[str, Any] | None], active: list[tuple[str, str]]
) -> None:
    assert run(values) == active


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (promotion(ends_at="2026-11-19T00:00:00Z"), "must end after it starts"),
        (promotion(discount_percent="120"), "discount_percent"),
        (promotion(discount_percent="NaN"), "discount_percent"),
        (promotion(promotion_id=""), "promotion_id"),
        ({"product_id": "abc"}, "PromotionChanged failed validation"),
        (None, "names no promotion"),
    ],
)
def test_bad_promotion_records_are_poison(value: dict[str, Any] | None, reason: str) -> None:
    with pytest.raises(PoisonEvent, match=reason):
        decode_record(TOPIC, b"abc", encode(value))
