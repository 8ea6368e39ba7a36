"""The gateway's ASGI application: GraphQL at ``/graphql`` plus the probe endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from strawberry.http.ides import get_graphql_ide_html

from gateway.auth import TokenVerifier, Viewer
from gateway.context import GatewayContext, ResolverLimits
from gateway.extensions import GatewayExtension, load_extensions
from gateway.graphql_http import GraphQLEndpoint, Limits
from gateway.loaders import CategoryPages, ProductDocuments
from gateway.metrics import GatewayMetrics
from gateway.schema import build_schema
from shopwindow.document import COLLECTION
from shopwindow.mongo import mongo_client
from shopwindow.probes import probe_routes
from shopwindow.settings import GatewaySettings

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 2.0


def create_app(
    settings: GatewaySettings, extensions: Sequence[GatewayExtension] | None = None
) -> Starlette:
    """Build the gateway; its MongoDB client connects in the lifespan, not here.

    Args:
        settings: The gateway's settings.
        extensions: BFF extensions; by default those installed or named in the settings.

    Returns:
        The Starlette application.

    Raises:
        ExtensionError: When an extension cannot be loaded.
    """
    if extensions is None:
        extensions = load_extensions(settings.extensions)
    client = mongo_client(
        settings.mongodb_uri.get_secret_value(), "shopwindow-gateway", serverSelectionTimeoutMS=5000
    )
    database = client[settings.mongodb_database]
    metrics = GatewayMetrics()
    documents = ProductDocuments(database[COLLECTION], metrics)
    loader_factories = {
        name: factory(database)
        for extension in extensions
        for name, factory in extension.loaders.items()
    }
    resolver_limits = ResolverLimits(settings.max_ids_per_query, settings.max_page_size)

    def context(request: Request, viewer: Viewer, request_id: str) -> GatewayContext:
        products = documents.loader()
        return GatewayContext(
            products=products,
            categories=CategoryPages(documents, products),
            viewer=viewer,
            request_id=request_id,
            limits=resolver_limits,
            loaders={name: make() for name, make in loader_factories.items()},
        )

    limits = Limits(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        max_body_bytes=settings.max_body_bytes,
        timeout_s=settings.request_timeout_ms / 1000,
        introspection=settings.introspection,
        graphiql=settings.graphiql,
    )
    endpoint = GraphQLEndpoint(
        build_schema(
            extensions
        )._schema,  # graphql-core executes it directly: no per-request extension hooks.
        limits,
        TokenVerifier(settings),
        context,
        metrics,
        get_graphql_ide_html() if settings.graphiql else None,
    )

    async def readiness() -> list[str]:
        try:
            await asyncio.wait_for(client.admin.command("ping"), PROBE_TIMEOUT_S)
            return []
        except Exception:
            return ["mongodb"]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await client.aconnect()
        log.info("gateway started", extra={"extensions": [e.name for e in extensions]})
        try:
            yield
        finally:
            await client.close()

    routes = [
        *probe_routes(readiness, metrics.registry),
        Route("/graphql", endpoint.handle, methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
