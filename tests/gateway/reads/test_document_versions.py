"""The gateway reads documents of older contracts, and masks those of newer ones."""

from __future__ import annotations

import copy

from pymongo import AsyncMongoClient

from shopwindow.document import COLLECTION, SCHEMA_VERSION
from shopwindow.mongo import MongoDocument
from tests.gateway.conftest import GatewayFactory
from tests.materializer.test_document_contract import TODAYS_SHAPE


async def test_the_gateway_serves_documents_of_todays_shape(
    mongo: AsyncMongoClient[MongoDocument], database_name: str, gateway: GatewayFactory
) -> None:
    await mongo[database_name][COLLECTION].insert_one(copy.deepcopy(TODAYS_SHAPE))
    query = '{ product(id: "abc") { name attributes { value } rating { average count } } }'
    async with gateway() as http:
        body = (await http.post("/graphql", json={"query": query})).json()
    assert body["data"]["product"] == {
        "name": "Trail shoe",
        "attributes": [{"value": "red"}],
        "rating": {"average": 3.0, "count": 2},
    }


async def test_a_document_of_a_newer_version_is_an_error_for_that_product_alone(
    mongo: AsyncMongoClient[MongoDocument], database_name: str, gateway: GatewayFactory
) -> None:
    newer = {**copy.deepcopy(TODAYS_SHAPE), "schema_version": SCHEMA_VERSION + 1}
    other = {**copy.deepcopy(TODAYS_SHAPE), "_id": "def"}
    await mongo[database_name][COLLECTION].insert_many([newer, other])
    query = '{ products(ids: ["abc", "def"]) { id } }'
    async with gateway() as http:
        body = (await http.post("/graphql", json={"query": query})).json()
    assert body["data"]["products"] == [None, {"id": "def"}]
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL"
    assert body["errors"][0]["path"] == ["products", 0]
    assert "schema_version" not in str(body)
