"""The document contract: upgrades of stored documents, newer versions, and reviews kept
out of the product document (its size does not grow with its reviews)."""

from __future__ import annotations

import copy
from typing import Any

import bson
import pytest
from pymongo import AsyncMongoClient

from shopwindow.devstack import DevStack
from shopwindow.document import COLLECTION, SCHEMA_VERSION, NewerSchemaVersion, upgrade
from shopwindow.materializer.batch_writer import BatchWriter
from shopwindow.materializer.errors import TransientError
from shopwindow.materializer.fold import FoldSettings
from shopwindow.materializer.metrics import MaterializerMetrics
from shopwindow.materializer.sources import catalog as catalog_source
from shopwindow.materializer.sources import reviews as reviews_source
from shopwindow.materializer.sources.base import entry_id
from shopwindow.materializer.sources.variants import DEFAULT_VARIANT
from shopwindow.materializer.store import SaleProductStore
from shopwindow.mongo import CODEC_OPTIONS, MongoDocument
from shopwindow.sale_product import read_sale_product
from tests import kinds
from tests.materializer.conftest import T0, SourcedFactory, catalog, order, review, stock_take

# A document as shopwindow stored it before schema versions: reviews inside it, the
# snapshots' ordering keys at the top of _meta.
TODAYS_SHAPE: dict[str, Any] = {
    "_id": "abc",
    "version": 3,
    "updated_at": T0,
    "visible": True,
    "catalog": {
        "name": "Trail shoe",
        "description": "",
        "brand": "Acme",
        "category": "shoes",
        "images": [],
        "attributes": [{"name": "colour", "value": "red"}],
        "updated_at": T0,
    },
    "price": None,
    "stock": {"quantity": 0, "available": 0, "status": "OUT_OF_STOCK", "updated_at": None},
    "rating": {"average": 3.0, "count": 2, "sum": 6},
    "popularity": {"views": 0, "orders": 0},
    "_meta": {
        "revision": 3,
        "applied": {"catalog:0": 0, "reviews:0": 2},
        "catalog_key": [T0, 0, 0],
        "price_key": None,
        "reviews": {
            "r1": {"rating": 2, "deleted": False, "key": [T0, 0, 1]},
            "r%2E2": {"rating": 4, "deleted": False, "key": [T0, 0, 2]},
        },
        "ids": [],
    },
}


def writer(mongo: AsyncMongoClient[MongoDocument], database: str) -> BatchWriter:
    return BatchWriter(SaleProductStore(mongo[database]), FoldSettings(), MaterializerMetrics())


def test_the_upgrade_moves_ordering_keys_and_reviews() -> None:
    upgraded = upgrade(copy.deepcopy(TODAYS_SHAPE))
    meta = upgraded["_meta"]
    assert upgraded["schema_version"] == SCHEMA_VERSION
    assert meta["keys"] == {"catalog": [T0, 0, 0], "price": None}
    assert "reviews" not in meta and "catalog_key" not in meta
    assert meta["pending"]["reviews"]["r%2E2"] == {
        "id": "r.2",
        "product_id": "abc",
        "rating": 4,
        "deleted": False,
        "key": [T0, 0, 2],
    }


@pytest.mark.parametrize("found", [SCHEMA_VERSION + 1, 10**9, "2", True, None, 2.0])
def test_a_newer_or_unreadable_version_is_a_clear_error(found: Any) -> None:
    with pytest.raises(NewerSchemaVersion, match="schema_version"):
        upgrade({**TODAYS_SHAPE, "schema_version": found})


async def test_documents_of_todays_shape_are_upgraded_when_the_materializer_reads_them(
    mongo: AsyncMongoClient[MongoDocument], database_name: str, sourced: SourcedFactory
) -> None:
    database = mongo[database_name]
    await database[COLLECTION].insert_one(copy.deepcopy(TODAYS_SHAPE))
    events = [
        # r1 is edited from 2 to 5 stars; the old rating must leave the sum.
        sourced(kinds.REVIEWS, review("r1", 5, minutes=10), offset=3),
        # Older than the stored catalog: the migrated ordering key keeps it out.
        sourced(kinds.CATALOG, catalog(name="Old name", minutes=-10), offset=1),
    ]
    await writer(mongo, database_name).write({"abc": events})

    stored = await database[COLLECTION].find_one({"_id": "abc"})
    assert stored is not None
    assert stored["schema_version"] == SCHEMA_VERSION
    assert stored["rating"] == {"average": 4.5, "count": 2, "sum": 9}
    assert stored["catalog"]["name"] == "Trail shoe"
    assert stored["_meta"]["pending"] == {} and "reviews" not in stored["_meta"]
    reviews = {doc["_id"]: doc async for doc in database[reviews_source.COLLECTION].find()}
    # Each review is stored under its product and its id.
    assert {rid: (r["rating"], r["deleted"]) for rid, r in reviews.items()} == {
        entry_id("abc", "r1"): (5, False),
        entry_id("abc", "r.2"): (4, False),
    }


async def test_a_document_of_a_newer_version_is_left_alone(
    mongo: AsyncMongoClient[MongoDocument], database_name: str, sourced: SourcedFactory
) -> None:
    database = mongo[database_name]
    newer = {**copy.deepcopy(TODAYS_SHAPE), "schema_version": SCHEMA_VERSION + 1}
    await database[COLLECTION].insert_one(newer)
    # The materializer backs off without writing (a newer replica is rolling out).
    with pytest.raises(TransientError, match="newer materializer") as raised:
        await writer(mongo, database_name).write({"abc": [sourced(kinds.CLICKS, _click())]})
    assert raised.value.dependency == "schema_version"
    assert await database[COLLECTION].find_one({"_id": "abc"}) == newer


def _click() -> dict[str, Any]:
    return {"user_id": "u", "product_id": "abc", "timestamp": T0.isoformat()}


async def test_the_document_does_not_grow_with_its_reviews(
    stack: DevStack,
    mongo: AsyncMongoClient[MongoDocument],
    database_name: str,
    sourced: SourcedFactory,
) -> None:
    batch_writer = writer(mongo, database_name)
    for product_id, count in (("few", 10), ("all", 10_000)):
        events = [sourced(kinds.CATALOG, catalog(product_id))] + [
            sourced(kinds.REVIEWS, review(f"{product_id}-{n}", 1 + n % 5, product_id=product_id))
            for n in range(count)
        ]
        for start in range(0, len(events), 2000):
            await batch_writer.write({product_id: events[start : start + 2000]})
    database = mongo[database_name]
    docs = {doc["_id"]: doc async for doc in database[COLLECTION].find()}
    sizes = {pid: len(bson.encode(doc, codec_options=CODEC_OPTIONS)) for pid, doc in docs.items()}
    print(f"document size: 10 reviews {sizes['few']} B, 10,000 reviews {sizes['all']} B")
    assert sizes["few"] == sizes["all"]
    assert docs["all"]["rating"] == {"average": 3.0, "count": 10_000, "sum": 30_000}
    assert await database[reviews_source.COLLECTION].count_documents({}) == 10_010
    typed = read_sale_product(docs["all"])
    assert typed.get(reviews_source.SOURCE).count == 10_000
    assert typed.get(catalog_source.SOURCE) is not None


# A document as contract 2 stored it: one price and one stock per product, no variants.
V2_SHAPE: dict[str, Any] = {
    "_id": "abc",
    "schema_version": 2,
    "version": 5,
    "updated_at": T0,
    "materialized_at": T0,
    "visible": True,
    "catalog": {**copy.deepcopy(TODAYS_SHAPE["catalog"]), "listed_at": T0},
    "price": {
        "currency": "EUR",
        "amount": bson.Decimal128("19.99"),
        "list_amount": None,
        "segment_amounts": {},
        "discount_percent": None,
        "updated_at": T0,
    },
    "stock": {"quantity": 7, "available": 7, "status": "IN_STOCK", "updated_at": T0},
    "popularity": {"views": 3, "orders": 2, "trending_score": 0.0},
    "_meta": {
        "revision": 5,
        "applied": {"catalog:0": 0, "prices:0": 0, "inventory:0": 0},
        "ids": [],
        "keys": {"catalog": [T0, 0, 0], "price": [T0, 0, 0]},
        "pending": {},
    },
}


def test_a_v2_document_reads_as_one_default_variant_with_its_price_and_stock() -> None:
    product = read_sale_product(copy.deepcopy(V2_SHAPE))
    assert product.schema_version == SCHEMA_VERSION == 3
    catalog_read = product.get(catalog_source.SOURCE)
    assert catalog_read is not None
    assert catalog_read.options == () and catalog_read.variants == (DEFAULT_VARIANT,)
    assert product.sections["variant_prices"] == {} == product.sections["variant_stock"]
    assert product.sections["stock"]["available"] == 7
    assert product.sections["price"]["amount"] == bson.Decimal128("19.99")
    assert product.sections["popularity"]["units"] == 2  # Each order counted one unit.


async def test_a_stored_v2_document_is_rewritten_as_v3_by_its_next_event(
    mongo: AsyncMongoClient[MongoDocument], database_name: str, sourced: SourcedFactory
) -> None:
    database = mongo[database_name]
    await database[COLLECTION].insert_one(copy.deepcopy(V2_SHAPE))
    lines = [{"product_id": "abc", "sku": "M", "quantity": 3}]
    events = [
        sourced(kinds.INVENTORY, {**stock_take(4), "sku": "M"}, offset=1),
        sourced(kinds.ORDERS, {**order("o9", "abc"), "lines": lines}, offset=0),
    ]
    await writer(mongo, database_name).write({"abc": events})

    stored = await database[COLLECTION].find_one({"_id": "abc"})
    assert stored is not None
    assert stored["schema_version"] == 3
    assert stored["stock"]["quantity"] == 7  # The default variant's, as before.
    assert stored["variant_stock"]["M"]["quantity"] == 4
    assert (stored["popularity"]["orders"], stored["popularity"]["units"]) == (3, 5)
    assert stored["catalog"]["variants"] == [] and stored["version"] == 7
