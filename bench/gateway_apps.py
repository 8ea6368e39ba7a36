"""The servers ``bench/gateway.py`` compares, as uvicorn app factories.

* ``gateway``: the real gateway, from the ``SHOPWINDOW_*`` settings.
* ``baseline``: a bare Starlette endpoint doing the same lookup by ``_id`` and
  returning the same JSON, with no GraphQL at all.
* ``memory``: a bare Starlette endpoint returning the same JSON from a dict filled at
  start: the limit of the HTTP stack.

The bare endpoints take the requests the gateway takes (``GET /graphql`` with the
product id in ``variables``, or a POSTed JSON body with ``variables``) and ignore the
rest; a POST's body is parsed as the gateway parses it (orjson).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shopwindow.document import COLLECTION, META
from shopwindow.gateway.app import create_app
from shopwindow.gateway.transport.front_door import FrontDoor
from shopwindow.gc_tuning import tune_for_long_lived_objects
from shopwindow.materializer.sources import catalog as catalog_source
from shopwindow.materializer.sources import inventory, prices, reviews
from shopwindow.mongo import mongo_client
from shopwindow.sale_product import read_sale_product
from shopwindow.settings import GatewaySettings, load


def gateway() -> FrontDoor:
    """The gateway under test, in the process set-up of ``shopwindow serve``."""
    tune_for_long_lived_objects()
    return create_app(load(GatewaySettings))


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _money(value: Any) -> str | None:
    return None if value is None else str(value)


def product_json(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The product-page query's answer, written out by hand over the typed document."""
    product = read_sale_product(doc)
    catalog = product.get(catalog_source.SOURCE)
    assert catalog is not None
    price = product.get(prices.SOURCE)
    stock = product.get(inventory.SOURCE)
    rating = product.get(reviews.SOURCE)
    return {
        "id": product.id,
        "name": catalog.name,
        "brand": catalog.brand,
        "images": list(catalog.images),
        "attributes": [{"name": name, "value": value} for name, value in catalog.attributes],
        "price": None
        if price is None
        else {
            "amount": _money(price.amount),
            "listAmount": _money(price.list_amount),
            "currency": price.currency,
            "discountPercent": _money(price.discount_percent),
        },
        "stock": {"available": stock.available, "status": stock.status.value},
        "rating": {"average": rating.average, "count": rating.count},
        "version": product.version,
        "updatedAt": _time(product.updated_at),
    }


async def _product_id(request: Request) -> str:
    if request.method == "POST":
        variables = orjson.loads(await request.body()).get("variables") or {}
    else:
        variables = orjson.loads(request.query_params.get("variables") or "{}")
    return str(variables.get("id", ""))


def _answer(product: dict[str, Any] | None) -> Response:
    return Response(orjson.dumps({"data": {"product": product}}), media_type="application/json")


def baseline() -> Starlette:
    """The same lookup and JSON without GraphQL."""
    settings = load(GatewaySettings)
    client = mongo_client(settings.mongodb_uri.get_secret_value(), "shopwindow-bench-baseline")
    collection = client[settings.mongodb_database][COLLECTION]

    async def endpoint(request: Request) -> Response:
        product_id = await _product_id(request)
        doc = await collection.find_one({"_id": product_id, "visible": True}, {META: 0})
        return _answer(product_json(doc) if doc else None)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.close()

    return Starlette(
        routes=[Route("/graphql", endpoint, methods=["GET", "POST"])], lifespan=lifespan
    )


def memory() -> Starlette:
    """The same JSON from memory: what the HTTP stack alone can serve."""
    settings = load(GatewaySettings)
    products: dict[str, dict[str, Any]] = {}

    async def endpoint(request: Request) -> Response:
        return _answer(products.get(await _product_id(request)))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        client = mongo_client(settings.mongodb_uri.get_secret_value(), "shopwindow-bench-memory")
        try:
            async for doc in client[settings.mongodb_database][COLLECTION].find(
                {"visible": True}, {META: 0}
            ):
                products[doc["_id"]] = product_json(doc)
        finally:
            await client.close()
        yield

    return Starlette(
        routes=[Route("/graphql", endpoint, methods=["GET", "POST"])], lifespan=lifespan
    )
