"""Decoding records in every envelope the sources use, and rejecting the rest."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from shopwindow.materializer.decode import PoisonEvent, decode_record
from shopwindow.materializer.sources.base import SourceTopic
from shopwindow.materializer.sources.catalog import CatalogDeletion, CatalogSnapshot
from shopwindow.materializer.sources.inventory import InventoryDelta, StockTake
from shopwindow.materializer.sources.prices import PriceDeletion, PriceSnapshot
from shopwindow.materializer.sources.reviews import ReviewUpserted
from tests import kinds
from tests.materializer.conftest import catalog, delta, price, review, sizes, stock_take

ROW = catalog("abc", name="Boot")


def raw(value: Any) -> bytes:
    return json.dumps(value).encode()


ACCEPTED: list[tuple[str, SourceTopic, bytes | None, bytes | None, Any]] = [
    ("plain JSON", kinds.CATALOG, b"abc", raw(ROW), ("name", "Boot")),
    (
        "Debezium create",
        kinds.CATALOG,
        b"abc",
        raw({"before": None, "after": ROW, "op": "c", "ts_ms": 1}),
        ("name", "Boot"),
    ),
    (
        "Debezium snapshot read",
        kinds.CATALOG,
        b"abc",
        raw({"before": None, "after": ROW, "op": "r", "ts_ms": 1}),
        ("name", "Boot"),
    ),
    (
        "Debezium with schema wrapper",
        kinds.CATALOG,
        b"abc",
        raw({"schema": {}, "payload": {"before": ROW, "after": ROW, "op": "u", "ts_ms": 1}}),
        ("name", "Boot"),
    ),
    (
        "outbox payload as JSON string",
        kinds.CATALOG,
        b"abc",
        raw(json.dumps(ROW)),
        ("name", "Boot"),
    ),
    (
        "money as a string stays exact",
        kinds.PRICES,
        b"abc",
        raw(price(amount="17.99")),
        ("amount", Decimal("17.99")),
    ),
    (
        "money as a JSON number stays exact",
        kinds.PRICES,
        b"abc",
        b'{"product_id":"abc","currency":"EUR","amount":17.99,"updated_at":"2024-06-18T12:00:00Z"}',
        ("amount", Decimal("17.99")),
    ),
    ("inventory delta", kinds.INVENTORY, b"abc", raw(delta(-1)), InventoryDelta),
    ("stock take", kinds.INVENTORY, b"abc", raw(stock_take(42)), StockTake),
    ("catalog tombstone", kinds.CATALOG, b"abc", None, CatalogDeletion),
    (
        "Debezium catalog delete",
        kinds.CATALOG,
        b"abc",
        raw({"before": ROW, "after": None, "op": "d", "ts_ms": 1}),
        CatalogDeletion,
    ),
    (
        "price tombstone with a Debezium key",
        kinds.PRICES,
        raw({"schema": {}, "payload": {"product_id": "abc"}}),
        None,
        PriceDeletion,
    ),
    (
        "Debezium review delete",
        kinds.REVIEWS,
        b"abc",
        raw({"before": review("r1", 4), "after": None, "op": "d", "ts_ms": 1718712000000}),
        ("deleted", True),
    ),
    (
        "Debezium update moving a review to another product",
        kinds.REVIEWS,
        b"r1",
        raw({"before": review("r1", 4, product_id="old"), "after": review("r1", 4), "op": "u"}),
        ("previous_product_id", "old"),
    ),
    (
        "Debezium update of a review on its product is no move",
        kinds.REVIEWS,
        b"r1",
        raw({"before": review("r1", 2), "after": review("r1", 4), "op": "u"}),
        ("previous_product_id", None),
    ),
    (
        "Debezium update with only the key in its before-image is no move",
        kinds.REVIEWS,
        b"r1",
        raw({"before": {"review_id": "r1"}, "after": review("r1", 4), "op": "u"}),
        ("previous_product_id", None),
    ),
    (
        "an outbox event naming both products",
        kinds.REVIEWS,
        b"r1",
        raw(json.dumps({**review("r1", 4), "previous_product_id": "old"})),
        ("previous_product_id", "old"),
    ),
]


@pytest.mark.parametrize(
    ("kind", "key", "value", "expected"),
    [case[1:] for case in ACCEPTED],
    ids=[case[0] for case in ACCEPTED],
)
def test_accepted(kind: SourceTopic, key: bytes | None, value: bytes | None, expected: Any) -> None:
    event = decode_record(kind, key, value).event
    if isinstance(expected, type):
        assert isinstance(event, expected)
    else:
        field, wanted = expected
        assert getattr(event, field) == wanted


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("1E+2", "100"),
        ("0E+20", "0"),
        ("-0", "0"),
        ("1.50000000", "1.500000"),
        ("999999999999.999999", "999999999999.999999"),
        ("0.10", "0.10"),
    ],
)
def test_money_is_stored_in_plain_notation(sent: str, stored: str) -> None:
    event = decode_record(kinds.PRICES, b"abc", raw(price(amount=sent))).event
    assert isinstance(event, PriceSnapshot)
    assert str(event.amount) == stored


def test_translations_are_kept_under_their_canonical_tags() -> None:
    event = decode_record(
        kinds.CATALOG,
        b"abc",
        raw(catalog(translations={"DE-ch": {"name": "Laufschuh"}, "iw": {"description": "x"}})),
    ).event
    assert isinstance(event, CatalogSnapshot)
    assert set(event.translations) == {"de-CH", "he"}


def test_outbox_id_header_is_the_event_id() -> None:
    decoded = decode_record(kinds.PRICES, b"abc", raw(json.dumps(price())), [("id", b"e-1")])
    assert isinstance(decoded.event, PriceSnapshot)
    assert decoded.event_id == "e-1"


def test_review_delete_keeps_its_identity() -> None:
    event = decode_record(
        kinds.REVIEWS, b"abc", raw({"before": review("r9", 3), "op": "d", "ts_ms": 1})
    ).event
    assert isinstance(event, ReviewUpserted)
    assert (event.review_id, event.deleted) == ("r9", True)


REJECTED: list[tuple[str, SourceTopic, bytes | None, bytes | None, str]] = [
    ("bad JSON", kinds.CATALOG, b"abc", b"{not json", "invalid JSON"),
    ("not an object", kinds.CATALOG, b"abc", b"[1, 2]", "expected a JSON object"),
    (
        "NaN is not JSON",
        kinds.PRICES,
        b"abc",
        b'{"product_id":"abc","currency":"EUR","amount":NaN,"updated_at":"2024-06-18T12:00:00Z"}',
        "invalid JSON",
    ),
    ("missing field", kinds.CATALOG, b"abc", raw({"product_id": "abc"}), "name"),
    ("negative money", kinds.PRICES, b"abc", raw(price(amount="-1")), "non-negative"),
    ("negative list price", kinds.PRICES, b"abc", raw(price(list_amount="-0.01")), "non-negative"),
    ("1e400", kinds.PRICES, b"abc", raw(price(amount="1e400")), "12 digits before the point"),
    ("a trillion", kinds.PRICES, b"abc", raw(price(amount=10**12)), "12 digits before the point"),
    ("1e-7", kinds.PRICES, b"abc", raw(price(amount="1e-7")), "6 digits after the point"),
    ("Infinity", kinds.PRICES, b"abc", raw(price(amount="Infinity")), "finite"),
    ("sNaN", kinds.PRICES, b"abc", raw(price(amount="sNaN")), "amount"),
    (
        "segment price of 1E+400",
        kinds.PRICES,
        b"abc",
        raw(price(segment_amounts={"gold": "1E+400"})),
        "12 digits before the point",
    ),
    *(
        (f"currency {bad!r}", kinds.PRICES, b"abc", raw(price(currency=bad)), "ISO 4217")
        for bad in ("eur", "XYZ", "EU", "EURO", "€", "E\u0000R")
    ),
    ("currency as a number", kinds.PRICES, b"abc", raw(price(currency=978)), "currency"),
    *(
        (f"market {bad!r}", kinds.PRICES, b"abc", raw(price(market=bad)), "market")
        for bad in ("EU", "", "e.u", "m" * 1000, 7, ["eu"], "\u0000", "eu\n")
    ),
    *(
        (
            f"translation into {tag!r}",
            kinds.CATALOG,
            b"abc",
            raw(catalog(translations={tag: {"name": "x"}})),
            "BCP 47",
        )
        for tag in ("de_CH", "en--US", "", "x", "d" * 100, "\u0000")
    ),
    (
        "500 languages in one record",
        kinds.CATALOG,
        b"abc",
        raw(catalog(translations={f"x-l{n}": {"name": "x"} for n in range(500)})),
        "at most 50",
    ),
    (
        "one language spelled twice",
        kinds.CATALOG,
        b"abc",
        raw(catalog(translations={"de": {"name": "a"}, "DE": {"name": "b"}})),
        "'de' is translated twice",
    ),
    (
        "a translated name that is not text",
        kinds.CATALOG,
        b"abc",
        raw(catalog(translations={"de": {"name": 7}})),
        "name",
    ),
    *(
        (
            f"option translation: {name}",
            kinds.CATALOG,
            b"abc",
            raw(catalog(**sizes(["S", "M"]), translations={"de": translation})),
            reason,
        )
        for name, translation, reason in [
            ("an unlisted option", {"options": {"colour": "Farbe"}}, "'colour', not listed"),
            (
                "an unlisted value",
                {"option_values": {"size": {"XL": "XL"}}},
                "value 'XL' of option 'size', not listed",
            ),
            (
                "two values one name",
                {"option_values": {"size": {"S": "K", "M": "K"}}},
                "two values of 'size' one name",
            ),
            ("a control character", {"options": {"size": "Gr\u0000"}}, "control"),
            ("an empty name", {"options": {"size": ""}}, "at least 1"),
        ]
    ),
    (
        "a translation that is not an object",
        kinds.CATALOG,
        b"abc",
        raw(catalog(translations={"de": "Laufschuh"})),
        "translations",
    ),
    (
        "bad timestamp",
        kinds.INVENTORY,
        b"abc",
        raw({"product_id": "abc", "quantity_change": 1, "timestamp": "yesterday"}),
        "timestamp",
    ),
    (
        "fractional delta",
        kinds.INVENTORY,
        b"abc",
        raw({"product_id": "abc", "quantity_change": 1.5, "timestamp": "2024-06-18T12:00:00Z"}),
        "quantity_change",
    ),
    (
        "neither delta nor level",
        kinds.INVENTORY,
        b"abc",
        raw({"product_id": "abc"}),
        "neither",
    ),
    (
        "unknown Debezium op",
        kinds.CATALOG,
        b"abc",
        raw({"before": None, "after": ROW, "op": "x"}),
        "unknown Debezium op",
    ),
    ("rating out of range", kinds.REVIEWS, b"abc", raw(review("r1", 9)), "rating"),
    *(
        (
            f"previous product id {name}",
            kinds.REVIEWS,
            b"r1",
            raw({**review("r1", 4), "previous_product_id": bad}),
            "previous_product_id",
        )
        for name, bad in (
            ("empty", ""),
            ("of 10 KB", "p" * 10_000),
            ("an operator", {"$ne": ""}),
            ("a number", 7),
            ("a lone surrogate", "\udc00"),
        )
    ),
    (
        "a before-image naming an unusable product",
        kinds.REVIEWS,
        b"r1",
        raw({"before": {"product_id": ["a"]}, "after": review("r1", 4), "op": "u"}),
        "previous_product_id",
    ),
    ("tombstone on a counter topic", kinds.CLICKS, b"u1", None, "delete"),
    ("tombstone without a key", kinds.CATALOG, None, None, "key"),
    (
        "operator as id",
        kinds.CATALOG,
        b"abc",
        raw({**ROW, "product_id": {"$gt": ""}}),
        "product_id",
    ),
    (
        "Debezium ts_ms past year 9999",
        kinds.CATALOG,
        b"abc",
        raw({"before": ROW, "after": None, "op": "d", "ts_ms": 253402300800000}),
        "ts_ms",
    ),
    (
        "Debezium ts_ms past the platform's range",
        kinds.CATALOG,
        b"abc",
        raw({"before": None, "after": ROW, "op": "c", "ts_ms": 2**63}),
        "ts_ms",
    ),
    (
        "time past year 9999 once in UTC",
        kinds.CATALOG,
        b"abc",
        raw({**ROW, "updated_at": "9999-12-31T23:59:59-01:00"}),
        "out of range",
    ),
    (
        "time before year 1 once in UTC",
        kinds.INVENTORY,
        b"abc",
        raw({"product_id": "abc", "quantity": 1, "timestamp": "0001-01-01T00:00:00+01:00"}),
        "out of range",
    ),
    (
        "lone surrogate in a name",
        kinds.CATALOG,
        b"abc",
        b'{"product_id":"abc","name":"\\ud800","updated_at":"2024-06-18T12:00:00Z"}',
        "surrogate",
    ),
    (
        "lone surrogate in an attribute key",
        kinds.CATALOG,
        b"abc",
        raw({**ROW, "attributes": {"\ud800": "x"}}),
        "surrogate",
    ),
    (
        "lone surrogate in an attribute value",
        kinds.CATALOG,
        b"abc",
        raw({**ROW, "attributes": {"colour": "\udfff"}}),
        "surrogate",
    ),
    (
        "lone surrogate in an image URL",
        kinds.CATALOG,
        b"abc",
        raw({**ROW, "images": ["https://img/\ud83d.jpg"]}),
        "surrogate",
    ),
    (
        "lone surrogate in a product id",
        kinds.CLICKS,
        b"u1",
        raw({"product_id": "\udc00", "timestamp": "2024-06-18T12:00:00Z"}),
        "surrogate",
    ),
    (
        "unsafe segment name",
        kinds.PRICES,
        b"abc",
        raw(price(segment_amounts={"$where": "1"})),
        "segment_amounts",
    ),
]


@pytest.mark.parametrize(
    ("kind", "key", "value", "reason"),
    [case[1:] for case in REJECTED],
    ids=[case[0] for case in REJECTED],
)
def test_rejected(kind: SourceTopic, key: bytes | None, value: bytes | None, reason: str) -> None:
    with pytest.raises(PoisonEvent) as raised:
        decode_record(kind, key, value)
    assert reason in raised.value.reason
