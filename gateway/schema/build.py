"""The build of the public schema: the root query, the sources' and extensions' fields,
and the subscription fields, with the one entry point both WebSocket protocols use."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

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
from shopwindow.gateway.schema.added_fields import AddedFields
from shopwindow.gateway.schema.in_context import in_context
from shopwindow.gateway.schema.positions import OFFSET_SCALAR, Offset
from shopwindow.gateway.schema.query import Query
from shopwindow.gateway.schema.search import SearchQuery
from shopwindow.gateway.schema.subscriptions import Subscription
from shopwindow.gateway.schema.variants import VariantFields
from shopwindow.materializer.sources import CORE, SourceRegistry
from shopwindow.product_type import Product


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
        # The public schema and the federated subgraph (``gateway.federation.subgraph``) share the
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
        custom = [
            d
            for d in self._schema.directives
            if not is_specified_directive(d) and f"directive @{d.name}(" not in printed
        ]
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
    # Price and stock over the variants, which three sources make together.
    added.setdefault(Product, []).append(VariantFields)
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
        subscription=Subscription,
        directives=[in_context],
        **schema_parts(extensions, registry).arguments(),
    )
