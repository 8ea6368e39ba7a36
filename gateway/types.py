"""The core ``Product`` type: a product's identity and versions.

Everything else on ``Product`` comes from the sources (``name`` from the catalog,
``price`` from prices, ...) and from extensions: each declares a strawberry type whose
fields join ``Product`` when the schema is built (``gateway.schema``). Their resolvers
read the typed document, ``root.sale_product``, through the owning source.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.federation.schema_directives import Key
from strawberry.federation.types import FieldSet

from shopwindow.gateway.context import GatewayContext
from shopwindow.sale_product import SaleProduct


# Keyed by id, an entity other subgraphs of a federated graph extend (gateway.subgraph).
@strawberry.type(
    description="A product as the product page shows it.", directives=[Key(fields=FieldSet("id"))]
)
class Product:
    id: strawberry.ID
    version: int = strawberry.field(description="Increases with every change of the product.")
    updated_at: datetime | None = strawberry.field(
        description="When the newest change the product reflects happened at its source."
    )
    materialized_at: datetime | None = strawberry.field(
        description="When shopwindow last wrote this product's document; with `updatedAt`, "
        "how long the change took to reach the page."
    )
    sale_product: strawberry.Private[SaleProduct]
    segment: strawberry.Private[str | None]


def product_of(sale_product: SaleProduct, context: GatewayContext) -> Product:
    """The ``Product`` a client sees of a visible document; counted in the result's
    ``extensions.freshness``.

    Args:
        sale_product: The typed document.
        context: The operation's context (the viewer's segment, the freshness report).
    """
    context.freshness.saw(sale_product)
    segment = context.segment
    return Product(
        id=strawberry.ID(sale_product.id),
        version=sale_product.version,
        updated_at=sale_product.updated_at,
        materialized_at=sale_product.materialized_at,
        sale_product=sale_product,
        segment=segment,
    )
