"""A ``Product`` of a visible document, as the operation's viewer sees it."""

from __future__ import annotations

import strawberry

from shopwindow.gateway.execution.context import GatewayContext
from shopwindow.product_type import Product
from shopwindow.sale_product import SaleProduct


def product_of(sale_product: SaleProduct, context: GatewayContext) -> Product:
    """The ``Product`` a client sees of a visible document; counted in the result's
    ``extensions.freshness``.

    Args:
        sale_product: The typed document.
        context: The operation's context (the viewer's segment, the freshness report).
    """
    context.saw(sale_product)
    segment = context.segment
    return Product(
        id=strawberry.ID(sale_product.id),
        version=sale_product.version,
        updated_at=sale_product.updated_at,
        materialized_at=sale_product.materialized_at,
        sale_product=sale_product,
        segment=segment,
        languages=context.localization.content_languages,
        price_order=context.localization.price_order,
        prices_at=context.prices_at,
    )
