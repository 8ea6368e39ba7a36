"""The core ``Product`` type: a product's identity and versions.

Everything else on ``Product`` comes from the sources (``name`` from the catalog,
``price`` from prices, ...) and from extensions: each declares a strawberry type whose
fields join ``Product`` when the schema is built (``gateway.schema.build``). Their
resolvers read the typed document, ``root.sale_product``, through the owning source.

Part of the kernel, not of the gateway, so that a source declares its fields without
loading the gateway: the gateway makes a ``Product`` of a document
(``gateway.schema.product.product_of``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from strawberry.federation.schema_directives import Key
from strawberry.federation.types import FieldSet

from shopwindow.sale_product import SaleProduct


# Keyed by id, an entity other subgraphs of a federated graph extend (gateway.federation.subgraph).
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
    # The BCP 47 tags content is looked up in, first first: the language the operation
    # runs in, its base language, then its market's default (``@inContext``).
    languages: strawberry.Private[tuple[str, ...]] = ()
    # The markets whose prices apply, in order; None is the default market's.
    price_order: strawberry.Private[tuple[str | None, ...]] = (None,)
    # The moment whose scheduled prices apply: the operation's.
    prices_at: strawberry.Private[datetime] = datetime.min.replace(tzinfo=UTC)
