"""The gateway's ASGI application: GraphQL at ``/graphql`` plus the probe endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from gateway.context import GatewayContext
from gateway.loaders import ProductDocuments
from gateway.schema import build_schema
from shopwindow.document import COLLECTION
from shopwindow.mongo import mongo_client
from shopwindow.probes import probe_routes
from shopwindow.settings import GatewaySettings

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 2.0


class GraphQLEndpoint(GraphQL[GatewayContext, None]):
    """Strawberry's ASGI view with a per-request context of fresh loaders."""

    def __init__(self, documents: ProductDocuments, **options: Any) -> None:
        super().__init__(build_schema(), **options)
        self._documents = documents

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> GatewayContext:
        return GatewayContext(
            products=self._documents.loader(),
            request_id=request.headers.get("x-request-id") or uuid.uuid4().hex,
            request=request,
            response=response,
        )


def create_app(settings: GatewaySettings) -> Starlette:
    """Build the gateway; its MongoDB client opens in the lifespan, not here.

    Args:
        settings: The gateway's settings.

    Returns:
        The Starlette application.
    """
    client = mongo_client(
        settings.mongodb_uri.get_secret_value(), "shopwindow-gateway", serverSelectionTimeoutMS=5000
    )
    database = client[settings.mongodb_database]
    documents = ProductDocuments(database[COLLECTION])
    registry = CollectorRegistry()

    async def readiness() -> list[str]:
        try:
            await asyncio.wait_for(client.admin.command("ping"), PROBE_TIMEOUT_S)
            return []
        except Exception:
            return ["mongodb"]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await client.aconnect()
        try:
            yield
        finally:
            await client.close()

    graphql = GraphQLEndpoint(documents)
    routes = [
        *probe_routes(readiness, registry),
        Route("/graphql", graphql, methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
