"""The gateway's ASGI application: GraphQL at ``/graphql`` plus the probe endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route

from shopwindow.clock import Clock, SystemClock
from shopwindow.document import COLLECTION
from shopwindow.extensions import Extension, load_extensions
from shopwindow.gateway.cost.budget import ClientBudgets
from shopwindow.gateway.execution.auth import TokenVerifier, Viewer
from shopwindow.gateway.execution.context import GatewayContext, ResolverLimits, WebSocketConnection
from shopwindow.gateway.execution.limits import Limits
from shopwindow.gateway.execution.persisted import load_manifest
from shopwindow.gateway.execution.policy import OperationPolicy
from shopwindow.gateway.federation.subgraph import build_subgraph_schema
from shopwindow.gateway.graphiql.page import GraphiQLPage
from shopwindow.gateway.live.fanout import FanOut
from shopwindow.gateway.live.operations import LiveOperations
from shopwindow.gateway.live.reader import ChangelogHub
from shopwindow.gateway.metrics import GatewayMetrics
from shopwindow.gateway.reads.consistency import ConsistencyGate, ReadOptions
from shopwindow.gateway.reads.document_cache import DocumentCache
from shopwindow.gateway.reads.loaders import CategoryPages, ProductDocuments, SkuLookups
from shopwindow.gateway.reads.served_generation import ServedGeneration
from shopwindow.gateway.schema.build import build_schema
from shopwindow.gateway.schema.subscriptions import LIVE_FIELDS
from shopwindow.gateway.search.feed import SearchFeed
from shopwindow.gateway.search.languages import indexed_languages
from shopwindow.gateway.search.rows import Locales
from shopwindow.gateway.search.service import SearchLimits, SearchService
from shopwindow.gateway.search.tantivy_index import TantivyIndex
from shopwindow.gateway.storefront import storefront_routes
from shopwindow.gateway.transport.front_door import FrontDoor
from shopwindow.gateway.transport.graphql_http import GraphQLEndpoint, HttpLimits
from shopwindow.gateway.transport.http_caching import HttpCaching
from shopwindow.gateway.transport.response_cache import ResponseCache, document_fields
from shopwindow.gateway.transport.websocket import LiveEndpoint, WebSocketOperations
from shopwindow.gateway.transport.ws_guard import GuardLimits, WebSocketGuard
from shopwindow.materializer.sources import registry_with
from shopwindow.mongo import mongo_client
from shopwindow.probes import probe_routes
from shopwindow.request_bounds import RequestBounds
from shopwindow.settings import ConfigurationError, GatewaySettings
from shopwindow.topic_check import (
    TopicsMisconfigured,
    check_topics_within,
    gateway_needs,
    missing,
)

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 2.0


def create_app(
    settings: GatewaySettings,
    extensions: Sequence[Extension] | None = None,
    clock: Clock | None = None,
) -> FrontDoor:
    """Build the gateway; its MongoDB client connects in the lifespan, not here.

    Args:
        settings: The gateway's settings.
        extensions: BFF extensions; by default those installed or named in the settings.
        clock: Decides which scheduled prices are in effect; the machine's by default
            (tests move a ``ManualClock``).

    Returns:
        The Starlette application.

    Raises:
        ExtensionError: When an extension cannot be loaded.
        ManifestError: When the trusted-documents manifest cannot be used.
    """
    if extensions is None:
        extensions = load_extensions(settings.extensions)
    clock = clock or SystemClock()
    trusted = (
        load_manifest(settings.persisted_manifest)
        if settings.persisted_only and settings.persisted_manifest is not None
        else None
    )
    client = mongo_client(
        settings.mongodb_uri.get_secret_value(),
        "shopwindow-gateway",
        serverSelectionTimeoutMS=5000,
        # A read on a half-open connection fails in time, and that connection goes.
        timeoutMS=settings.mongodb_read_timeout_ms,
    )
    database = client[settings.mongodb_database]
    metrics = GatewayMetrics()
    documents = ProductDocuments(database[COLLECTION], metrics)
    served = ServedGeneration(database, documents, settings.pointer_poll_interval_ms / 1000)
    loader_factories = {
        name: factory(database)
        for extension in extensions
        for name, factory in extension.loaders.items()
    }
    registry = registry_with([source for e in extensions for source in e.sources])
    schema = build_schema(extensions, registry)
    verifier = TokenVerifier(settings)
    cache = DocumentCache(settings.document_cache_mb * 1024 * 1024, metrics)
    hub = ChangelogHub(
        settings.kafka,
        settings.topics.changelog,
        documents,
        settings.changelog_partition_refresh_s,
        cache,
        settings.topics.progress,
    )
    gate = ConsistencyGate(
        hub.applied, registry.topic_names(settings.topics), settings.consistency_wait_ms / 1000
    )
    documents.use_cache(cache, hub.is_current)
    metrics.changelog_current.set_function(hub.is_current)
    responses = ResponseCache(
        settings.response_cache_mb * 1024 * 1024,
        cache,
        hub.state,
        # Extensions' fields may read their own collections: never kept.
        document_fields(build_schema((), registry)._schema),
        metrics,
        clock,
    )
    search, feed = _search(settings, metrics, clock)
    resolver_limits = ResolverLimits(
        settings.max_ids_per_query,
        settings.max_page_size,
        settings.ws_max_subscriptions_per_connection,
        settings.ws_max_products_per_subscription,
    )

    def context(
        viewer: Viewer, request_id: str, connection: WebSocketConnection | None
    ) -> GatewayContext:
        # One per operation, whatever the transport: DataLoader caches never outlive it.
        reads = ReadOptions()
        products = documents.loader(reads)
        return GatewayContext(
            products=products,
            categories=CategoryPages(documents, products),
            viewer=viewer,
            request_id=request_id,
            limits=resolver_limits,
            loaders={name: make() for name, make in loader_factories.items()},
            live=hub,
            connection=connection,
            reads=reads,
            consistency=gate,
            search=search,
            skus=SkuLookups(documents, products),
            prices_at=clock.now(),
        )

    limits = Limits(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        max_cost=settings.max_query_cost,
        timeout_s=settings.request_timeout_ms / 1000,
        introspection=settings.introspection,
        persisted_query_bytes=settings.persisted_query_cache_mb * 1024 * 1024,
    )
    # One bucket per client, whichever endpoint it spends it on.
    budgets = (
        ClientBudgets(
            settings.budget_capacity, settings.budget_restore_per_s, settings.budget_max_clients
        )
        if settings.budget_capacity
        else None
    )
    # graphql-core executes the schema directly: no per-request extension hooks.
    policy = OperationPolicy(
        schema._schema, limits, metrics, trusted, budgets=budgets, markets=settings.markets
    )
    if settings.introspection and (refusal := policy.introspection_refusal()):
        raise ConfigurationError(
            f"SHOPWINDOW_INTROSPECTION is on, but this schema's introspection query would "
            f"be refused: {refusal} Raise SHOPWINDOW_MAX_QUERY_COST or SHOPWINDOW_MAX_TOKENS, "
            "or turn introspection off."
        )
    metrics.persisted_query_bytes.set_function(lambda: policy.persisted.stored_bytes)
    http_limits = HttpLimits(
        max_body_bytes=settings.max_body_bytes,
        graphiql=settings.graphiql,
        caching=HttpCaching(
            settings.http_cache_max_age_s, settings.http_cache_stale_while_revalidate_s
        ),
    )
    endpoint = GraphQLEndpoint(
        policy,
        http_limits,
        verifier,
        context,
        metrics,
        GraphiQLPage() if settings.graphiql else None,
        responses,
        clock=clock,
    )
    schema.use_operations(WebSocketOperations(policy, context))
    live = LiveEndpoint(
        schema,
        verifier,
        settings.ws_keepalive_interval_s,
        settings.ws_connection_init_timeout_s,
    )
    live_operations = LiveOperations(schema._schema, policy, context, LIVE_FIELDS, resolver_limits)
    fanout = FanOut(live_operations.execute, documents, clock)
    live_operations.fanout = fanout
    hub.feed(fanout)
    metrics.live_groups.set_function(lambda: fanout.groups)
    metrics.live_executions.set_function(lambda: fanout.executed)
    metrics.live_members.set_function(lambda: fanout.members)
    metrics.live_pushes.set_function(lambda: fanout.pushed)
    guard = WebSocketGuard(
        live,
        GuardLimits(
            max_connections=settings.ws_max_connections,
            idle_timeout_s=settings.ws_idle_timeout_s,
            send_timeout_s=settings.ws_send_timeout_s,
            connection_init_timeout_s=settings.ws_connection_init_timeout_s,
            max_message_bytes=settings.ws_max_message_bytes,
        ),
        policy.resolve,
        live_operations,
    )

    needs = gateway_needs(settings.topics)

    async def readiness() -> list[str]:
        topics = await hub.cluster_topics()
        failing = ["kafka"] if topics is None else missing(topics, needs)
        if feed is not None and not feed.ready:
            failing.append("search-index")
        try:
            await asyncio.wait_for(client.admin.command("ping"), PROBE_TIMEOUT_S)
        except Exception:
            failing.insert(0, "mongodb")
        return failing

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await check_topics_within(
                settings.topic_check_timeout_ms / 1000,
                settings.kafka_bootstrap_servers,
                settings.topics,
                needs,
                settings if settings.create_topics else None,
            )
        except TopicsMisconfigured as error:
            app.state.startup_error = error  # HttpServer.start raises it, named.
            raise
        await client.aconnect()
        await served.start()
        await fanout.start()
        await hub.start()
        if feed is not None:
            await feed.start()
        log.info("gateway started", extra={"extensions": [e.name for e in extensions]})
        try:
            yield
        finally:
            if feed is not None:
                await feed.stop()
            await hub.stop()
            await fanout.stop()
            await served.stop()
            await client.close()

    routes = [
        *probe_routes(readiness, metrics.registry),
        *(storefront_routes() if settings.storefront else []),
    ]
    if settings.subgraph:
        # The same policy, limits and budgets as /graphql; its router is the client,
        # and what a router sends is checked like what anyone sends. No response cache:
        # a router asks for entities, not persisted queries.
        subgraph = OperationPolicy(
            build_subgraph_schema(extensions, registry)._schema, limits, metrics, budgets=budgets
        )
        subgraph_endpoint = GraphQLEndpoint(
            subgraph, http_limits, verifier, context, metrics, None, traces=True, clock=clock
        )
        routes.append(Route("/subgraph", subgraph_endpoint.handle, methods=["GET", "POST"]))
    return FrontDoor(
        Starlette(routes=routes, lifespan=lifespan),
        endpoint.handle,
        guard,
        refused=lambda reason: metrics.http_refused.labels(reason).inc(),
    )


def server_options(settings: GatewaySettings, app: FrontDoor | None = None) -> dict[str, Any]:
    """The options of the gateway's ``HttpServer`` its settings decide, with ``app``'s
    count of the connections the request bounds close."""
    return {
        "ws_per_message_deflate": settings.ws_per_message_deflate,
        "bounds": RequestBounds(
            max_head_bytes=settings.max_header_bytes,
            head_timeout_s=settings.header_timeout_ms / 1000,
            body_timeout_s=settings.body_timeout_ms / 1000,
        ),
        "refused": app.refused if app is not None else None,
    }


def _search(
    settings: GatewaySettings, metrics: GatewayMetrics, clock: Clock
) -> tuple[SearchService | None, SearchFeed | None]:
    if not settings.search_enabled:
        return None, None
    # Two indexing threads: the build is measured ~15 % faster than with one.
    locales = Locales(settings.markets.other_price_orders(), indexed_languages(settings.markets))
    index = TantivyIndex(
        settings.search_index_dir,
        settings.search_writer_memory_mb,
        writer_threads=2,
        markets=tuple(locales.price_orders),
        indexed_languages=locales.languages,
    )
    feed = SearchFeed(
        settings.kafka,
        settings.topics.changelog,
        index,
        settings.search_commit_interval_ms,
        metrics,
        locales,
        clock,
    )
    limits = SearchLimits(
        max_query_chars=settings.search_max_query_chars,
        max_words=settings.search_max_words,
        max_offset=settings.search_max_offset,
        max_page_size=settings.max_page_size,
        facet_values=settings.search_facet_values,
        price_ranges=tuple(settings.search_price_ranges),
    )
    return SearchService(index, limits, locales.languages), feed
