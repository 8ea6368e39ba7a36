"""The Federation v2 subgraph: the public schema's types, for a federated router.

Apollo Router, Hive Gateway or Cosmo compose it with BFF teams' own subgraphs, which
extend ``Product @key(fields: "id")`` with their fields. It adds what Strawberry's
federation support adds (``_service { sdl }``, ``_entities``, ``_Any``) and imports
``@key``, ``@cost`` and ``@listSize`` from the federation 2.9 specification, so a router
enforcing demand control sees our declared costs. Subscriptions stay on ``/graphql``.

``_entities`` loads every representation through the operation's ``DataLoader``: a
router asking for 100 products gets them in one batched read. The representations are
hostile input like any argument: too many, not objects, an unknown ``__typename`` or no
usable ``id`` are clean errors, each for its own item where it can be.
"""

from collections.abc import Sequence
from typing import Any

from strawberry import Info
from strawberry.federation import Schema as FederationSchema
from strawberry.federation.schema import FederationAny

from shopwindow.extensions import Extension
from shopwindow.gateway.errors import UserInputError
from shopwindow.gateway.execution.context import GatewayContext
from shopwindow.gateway.schema.build import WithAddedFields, schema_parts
from shopwindow.gateway.schema.product import product_of
from shopwindow.materializer.sources import CORE, SourceRegistry
from shopwindow.product_type import Product

# 2.9 brings @cost and @listSize into the federation specification.
FEDERATION_VERSION = "2.9"
_MAX_ID_CHARS = 512


class SubgraphSchema(WithAddedFields, FederationSchema):
    """The subgraph's Strawberry schema, with the fields sources and extensions add."""

    def entities_resolver(
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        context: GatewayContext = info.context
        cap = context.limits.max_ids_per_query
        if len(representations) > cap:
            raise UserInputError(f"At most {cap} representations per request.")
        # graphql-core raises an exception it finds in a list at that item's path: a
        # bad representation is an error (and null) for its own item only.
        return [_entity(context, r) for r in representations]


def _entity(context: GatewayContext, representation: object) -> Any:
    if not isinstance(representation, dict):
        return UserInputError("A representation must be an object with __typename.")
    typename = representation.get("__typename")
    if typename != "Product":
        return UserInputError("Unknown __typename; this subgraph resolves Product.")
    product_id = representation.get("id")
    if isinstance(product_id, int) and not isinstance(product_id, bool):
        product_id = str(product_id)
    if not isinstance(product_id, str) or not 0 < len(product_id) <= _MAX_ID_CHARS:
        return UserInputError("A Product representation needs its id (a string).")
    return _product(context, product_id)


async def _product(context: GatewayContext, product_id: str) -> Product | None:
    doc = await context.products.load(product_id)
    return product_of(doc, context) if doc else None


def build_subgraph_schema(
    extensions: Sequence[Extension] = (), registry: SourceRegistry = CORE
) -> SubgraphSchema:
    """The subgraph: the public schema's queries and types, as a Federation v2 subgraph.

    Args:
        extensions: Extensions whose fields and root fields join the schema.
        registry: The sources, core and extensions' (their ``product_fields``).
    """
    return SubgraphSchema(
        federation_version=FEDERATION_VERSION, **schema_parts(extensions, registry).arguments()
    )
