"""Example federated subgraph: shipping estimates on shopwindow's ``Product``.

A BFF team that does not deploy inside shopwindow runs its own service like this one,
behind the same federated router. It extends the ``Product`` entity (keyed by ``id``)
with ``shippingEstimate(postcode:)``; the router fetches the products from shopwindow's
subgraph and hands their keys to this one in one ``_entities`` call. The estimate is a
stand-in for a carrier's API, which is why it declares ``@cost(weight: 5)``: a router
enforcing demand control counts it, with shopwindow's own costs, in one estimate.
"""

from __future__ import annotations

import argparse
import hashlib

import strawberry
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry import UNSET
from strawberry.asgi import GraphQL
from strawberry.federation.schema_directives import Cost, ListSize

MAX_POSTCODE_CHARS = 16


@strawberry.type(description="When and at what price a product can be delivered.")
class ShippingEstimate:
    postcode: str
    days: int
    price: str = strawberry.field(description="Decimal string, in the shop's currency.")


def _shipping_estimate(root: Product, postcode: str) -> ShippingEstimate | None:
    code = postcode.strip().upper()
    if not 0 < len(code) <= MAX_POSTCODE_CHARS:
        return None
    # Deterministic per product and postcode, as a carrier's quote would be for a day.
    digest = hashlib.sha256(f"{root.id}:{code}".encode()).digest()
    return ShippingEstimate(
        postcode=code, days=1 + digest[0] % 5, price=f"{digest[1] % 20}.{digest[2] % 100:02d}"
    )


@strawberry.federation.type(keys=["id"])
class Product:
    id: strawberry.ID
    shipping_estimate: ShippingEstimate | None = strawberry.field(
        resolver=_shipping_estimate,
        description="Delivery to `postcode` (a carrier's quote: costly).",
        directives=[Cost(weight=5)],
    )

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Product:
        return cls(id=id)


MAX_IDS = 100


def _carriers() -> list[str]:
    return ["parcelco"]


def _deliverable(ids: list[strawberry.ID], postcode: str) -> list[Product]:
    if len(ids) > MAX_IDS or not postcode.strip():
        return []
    return [Product(id=i) for i in ids]


@strawberry.type
class Query:
    carriers: list[str] = strawberry.field(
        resolver=_carriers, description="The carriers this service quotes."
    )
    deliverable: list[Product] = strawberry.field(
        resolver=_deliverable,
        description="Of `ids` (at most 100), the products that can be delivered to "
        "`postcode`, in order: their other fields come from shopwindow, in one batch.",
        directives=[ListSize(assumed_size=MAX_IDS, slicing_arguments=UNSET, sized_fields=UNSET)],
    )


schema = strawberry.federation.Schema(query=Query, types=[Product], federation_version="2.9")


def create_app() -> Starlette:
    """The subgraph at ``/graphql``."""
    return Starlette(routes=[Route("/graphql", GraphQL(schema), methods=["GET", "POST"])])


def main() -> None:
    """Serve the subgraph (``shopwindow-shipping --port 4002``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4002)
    args = parser.parse_args()
    uvicorn.run(create_app(), host=args.host, port=args.port)
