"""The GraphQL schema: thin resolvers over the materialized documents."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import strawberry
from graphql import (
    OperationType,
    get_named_type,
    is_specified_directive,
    is_specified_scalar_type,
    print_directive,
    print_type,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField

from shopwindow.extensions import Extension
from shopwindow.gateway.added_fields import AddedFields
from shopwindow.gateway.connections import PageInfo, ProductEdge
from shopwindow.gateway.context import Info
from shopwindow.gateway.cost_directives import MAX_IDS, list_size
from shopwindow.gateway.errors import UserInputError
from shopwindow.gateway.loaders import encode_cursor
from shopwindow.gateway.positions import OFFSET_SCALAR, After, Offset, read_after
from shopwindow.gateway.search.api import SearchQuery
from shopwindow.gateway.subscriptions import Subscription
from shopwindow.gateway.types import Product, product_of
from shopwindow.materializer.sources import CORE, SourceRegistry


@strawberry.type(description="A page of products, in a stable order.")
class ProductConnection:
    edges: list[ProductEdge]
    page_info: PageInfo


async def resolve_product(
    info: Info,
    id: strawberry.ID,
    after: After = None,
) -> Product | None:
    await read_after(info, after)
    doc = await info.context.products.load(str(id))
    return product_of(doc, info.context) if doc else None


async def resolve_products(
    info: Info,
    ids: list[strawberry.ID],
    after: After = None,
) -> list[Product | None]:
    cap = info.context.limits.max_ids_per_query
    if len(ids) > cap:
        raise UserInputError(f"At most {cap} ids per query.")
    await read_after(info, after)
    loads = [info.context.products.load(str(i)) for i in ids]
    docs = await asyncio.gather(*loads, return_exceptions=True)
    # A document that cannot be read is an error (and null) for its own item only:
    # graphql-core raises an exception it finds in a list at that item's path.
    items: Any = [
        d if isinstance(d, BaseException) else product_of(d, info.context) if d else None
        for d in docs
    ]
    return cast(list[Product | None], items)


async def resolve_products_by_category(
    info: Info, category: str, first: int = 20, after: str | None = None
) -> ProductConnection:
    cap = info.context.limits.max_page_size
    if not 0 <= first <= cap:
        raise UserInputError(f"'first' must be between 0 and {cap}.")
    docs, more = await info.context.categories.page(category, after, first)
    edges = [
        ProductEdge(cursor=encode_cursor(d.id), node=product_of(d, info.context)) for d in docs
    ]
    return ProductConnection(
        edges=edges,
        page_info=PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None),
    )


@strawberry.type
class Query:
    product: Product | None = strawberry.field(
        resolver=resolve_product,
        description="One product; null when unknown, deleted or not cataloged.",
    )
    products: list[Product | None] = strawberry.field(
        resolver=resolve_products,
        directives=[list_size(assumed=MAX_IDS)],
        description="Products in the order of `ids`, null where missing; the number of ids "
        "is capped (100 by default).",
    )
    products_by_category: ProductConnection = strawberry.field(
        resolver=resolve_products_by_category,
        directives=[list_size(slicing=["first"], sized_fields=["edges"])],
        description="Visible products of a category in a stable order (by id). `first` is "
        "capped (100 by default); `after` takes an `endCursor`.",
    )


class OperationStreams(Protocol):
    """Runs the operations Strawberry's WebSocket handlers hand to ``stream``."""

    def stream(
        self,
        query: Any,
        variables: Any,
        operation_name: Any,
        connection: Any,
        allowed: Iterable[OperationType] | None,
    ) -> Any: ...


class WithAddedFields:
    """A Strawberry schema (mixed in before it) built from ``SchemaParts``: its types
    get the fields sources and extensions add."""

    def __init__(self, *args: Any, added_fields: AddedFields, **kwargs: Any):
        # Consulted by Strawberry's get_fields hook while the schema is built.
        self._added_fields = added_fields
        super().__init__(*args, **kwargs)

    def _warn_for_federation_directives(self) -> None:
        # The public schema and the federated subgraph (``gateway.subgraph``) share the
        # types: their @key, @cost and @listSize are meant in both.
        pass

    def get_fields(self, type_definition: StrawberryObjectDefinition) -> list[StrawberryField]:
        return self._added_fields.fields_of(type_definition)


class GatewaySchema(WithAddedFields, strawberry.Schema):
    """The Strawberry schema, whose ``stream`` (the one entry point of both WebSocket
    protocols) runs through the transport-independent policy, as HTTP does.

    Strawberry's own execution pipeline is never used: ``use_operations`` must be
    called before the schema serves WebSocket clients.
    """

    _operations: OperationStreams | None = None

    def as_str(self) -> str:
        """The SDL, led by the definitions of the directives its types apply: Strawberry
        leaves out those federation defines (a subgraph imports them with ``@link``)."""
        printed = super().as_str()
        custom = [d for d in self._schema.directives if not is_specified_directive(d)]
        support = {
            named.name: named
            for directive in custom
            for argument in directive.args.values()
            if (named := get_named_type(argument.type)).name not in printed
            and not is_specified_scalar_type(named)
        }
        definitions = [print_directive(d) for d in sorted(custom, key=lambda d: d.name)]
        definitions += [print_type(t) for _, t in sorted(support.items())]
        return "\n\n".join([*definitions, printed])

    def use_operations(self, operations: OperationStreams) -> None:
        """Route every streamed operation through ``operations``."""
        self._operations = operations

    async def stream(  # type: ignore[override]
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> Any:
        if self._operations is None:
            raise RuntimeError("GatewaySchema.use_operations() was not called")
        return self._operations.stream(
            query, variable_values, operation_name, context_value, allowed_operation_types
        )


@dataclass(frozen=True, slots=True)
class SchemaParts:
    """What the public schema and the federated subgraph are both built from."""

    query: type
    types: list[type]
    added_fields: AddedFields
    config: StrawberryConfig

    def arguments(self) -> dict[str, Any]:
        """What a ``WithAddedFields`` schema is built with."""
        return {
            "query": self.query,
            "types": self.types,
            "added_fields": self.added_fields,
            "config": self.config,
        }


def schema_parts(
    extensions: Sequence[Extension] = (), registry: SourceRegistry = CORE
) -> SchemaParts:
    """The root query, the extra types and the added fields of the core, the sources
    and the given extensions.

    Args:
        extensions: Extensions whose fields and root fields join the schema.
        registry: The sources, core and extensions' (their ``product_fields``).
    """
    queries = [Query, SearchQuery, *(e.query for e in extensions if e.query is not None)]
    added: dict[type, list[type]] = {}
    for source in registry.sources:
        if source.product_fields is not None:
            added.setdefault(Product, []).append(source.product_fields)
    for extension in extensions:
        for extended, fields_type in extension.fields.items():
            added.setdefault(extended, []).append(fields_type)
    return SchemaParts(
        query=merge_types("Query", tuple(queries)),
        types=[t for e in extensions for t in e.types]
        + [t for source in registry.sources for t in source.types],
        added_fields=AddedFields(added),
        config=StrawberryConfig(scalar_map={Offset: OFFSET_SCALAR}),
    )


def build_schema(
    extensions: Sequence[Extension] = (), registry: SourceRegistry = CORE
) -> GatewaySchema:
    """The gateway's schema: the core, the fields of every source, and what the given
    extensions add.

    Args:
        extensions: Extensions whose fields and root fields join the schema.
        registry: The sources, core and extensions' (their ``product_fields``).
    """
    return GatewaySchema(
        subscription=Subscription, **schema_parts(extensions, registry).arguments()
    )
