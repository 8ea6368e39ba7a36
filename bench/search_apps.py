"""The baseline of ``bench/search.py``: what a team without a search index would write.

A bare Starlette endpoint takes the same request as the gateway (``POST /graphql``
with the search in ``variables``) and answers it with one MongoDB aggregation: a
case-insensitive ``$regex`` per word over name, brand, description and category, the
filters in the same ``$match``, then ``$facet`` for the page, the total and the facet
counts. Its facets are not disjunctive and it has no typo tolerance or relevance: it
does less than the gateway, which is what a baseline should do.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import orjson
from bson.decimal128 import Decimal128
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shopwindow.document import COLLECTION
from shopwindow.mongo import mongo_client
from shopwindow.settings import GatewaySettings, load

FIELDS = ("catalog.name", "catalog.brand", "catalog.description", "catalog.category")
PAGE_FIELDS = {"_id": 1, "catalog.name": 1, "catalog.brand": 1, "price.amount": 1}
BOUNDARIES = [0, 10, 25, 50, 100, 250, 500, 10**12]


def _pipeline(variables: dict[str, Any]) -> list[dict[str, Any]]:
    words = re.findall(r"\w+", str(variables.get("q") or "").lower())
    match: list[dict[str, Any]] = [{"visible": True}]
    for word in words:
        pattern = {"$regex": re.escape(word), "$options": "i"}
        match.append({"$or": [{field: pattern} for field in FIELDS]})
    given = variables.get("filter") or {}
    if given.get("brands"):
        match.append({"catalog.brand": {"$in": given["brands"]}})
    if given.get("priceMax") is not None:
        match.append({"price.amount": {"$lte": Decimal128(Decimal(given["priceMax"]))}})
    sort = {"price.amount": 1, "_id": 1} if variables.get("sort") == "PRICE_ASC" else {"_id": 1}
    facets: dict[str, Any] = {
        "page": [{"$sort": sort}, {"$limit": 20}, {"$project": PAGE_FIELDS}],
        "total": [{"$count": "n"}],
    }
    if variables.get("facets"):
        facets |= {
            "brands": [{"$sortByCount": "$catalog.brand"}, {"$limit": 50}],
            "categories": [{"$sortByCount": "$catalog.category"}, {"$limit": 50}],
            "priceRanges": [
                {"$bucket": {"groupBy": "$price.amount", "boundaries": BOUNDARIES, "default": -1}}
            ],
            "inStock": [
                {"$group": {"_id": {"$gt": ["$stock.available", 0]}, "count": {"$sum": 1}}}
            ],
        }
    return [{"$match": {"$and": match}}, {"$facet": facets}]


def _answer(result: dict[str, Any]) -> dict[str, Any]:
    edges = [
        {
            "node": {
                "id": doc["_id"],
                "name": doc["catalog"]["name"],
                "brand": doc["catalog"]["brand"],
                "price": {"amount": str(doc.get("price", {}).get("amount"))},
            }
        }
        for doc in result["page"]
    ]
    answer: dict[str, Any] = {
        "totalCount": result["total"][0]["n"] if result["total"] else 0,
        "edges": edges,
    }
    if "brands" in result:
        answer["facets"] = {
            name: [{"value": str(b["_id"]), "count": b["count"]} for b in result[name]]
            for name in ("brands", "categories", "priceRanges", "inStock")
        }
    return {"data": {"search": answer}}


def baseline() -> Starlette:
    """MongoDB ``$regex`` and ``$facet`` behind a bare endpoint."""
    settings = load(GatewaySettings)
    client = mongo_client(settings.mongodb_uri.get_secret_value(), "shopwindow-bench-search")
    collection = client[settings.mongodb_database][COLLECTION]

    async def endpoint(request: Request) -> Response:
        if request.method == "GET":
            return Response(b"{}", media_type="application/json")
        variables = orjson.loads(await request.body()).get("variables") or {}
        cursor = await collection.aggregate(_pipeline(variables))
        [result] = await cursor.to_list()
        return Response(orjson.dumps(_answer(result), default=str), media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.close()

    return Starlette(
        routes=[Route("/graphql", endpoint, methods=["GET", "POST"])], lifespan=lifespan
    )
