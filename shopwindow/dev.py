"""``shopwindow dev``: the whole system in one process tree, for development and demos."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shlex
from datetime import UTC, datetime

from shopwindow.cli import command_name, example_command
from shopwindow.demo_traffic import produce_demo_traffic
from shopwindow.devstack import DevStack
from shopwindow.extensions import installed_registry
from shopwindow.gateway.app import create_app, server_options
from shopwindow.http_server import HttpServer
from shopwindow.materializer.service import Materializer
from shopwindow.settings import DevStackSettings, GatewaySettings, MaterializerSettings, load

log = logging.getLogger(__name__)


def without_password(uri: str) -> str:
    """``uri`` with any password in it replaced by ``***``."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", uri)


def banner(graphql_url: str, kafka_bootstrap_servers: str, mongodb_uri: str) -> str:
    """What ``shopwindow dev`` prints once everything is up: where each server is, and
    how to send an event of one's own and see it on the page."""
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    query = '{ product(id: "abc") { name stock { available } } }'
    return "\n".join(
        [
            f"shopwindow is up. GraphQL: {graphql_url}  (Ctrl-C stops everything)",
            f"  Storefront: {graphql_url.removesuffix('/graphql')}/",
            f"  Federation v2 subgraph, for a router: {graphql_url.removesuffix('/graphql')}"
            "/subgraph",
            f"  Kafka:   {kafka_bootstrap_servers}",
            f"  MongoDB: {without_password(mongodb_uri)}",
            "  Send an event of your own, then query the product:",
            f"    SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS={kafka_bootstrap_servers} "
            + example_command(now),
            f"    curl -s {graphql_url} -H 'content-type: application/json' "
            f"""-d '{{"query": {json.dumps(query)}}}'""",
            "  What it serves (generation, lag, freshness, dead letters), in another terminal:",
            f"    {status_command(graphql_url, kafka_bootstrap_servers, mongodb_uri)}",
        ]
    )


def status_command(graphql_url: str, kafka_bootstrap_servers: str, mongodb_uri: str) -> str:
    """The ``shopwindow status`` command that reads this dev stack: its servers, which
    a second terminal does not know, and its gateway. A password in the URI is not
    printed: its place says ``***``."""
    settings = {
        "SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
        "SHOPWINDOW_MONGODB_URI": without_password(mongodb_uri),
    }
    assignments = " ".join(f"{name}={shlex.quote(value)}" for name, value in settings.items())
    gateway = shlex.quote(graphql_url.removesuffix("/graphql"))
    return f"{assignments} {command_name()} status --watch --gateways {gateway}"


async def run_dev(settings: DevStackSettings) -> None:
    """Start Kafka and MongoDB (stand-ins unless configured), the materializer, the
    gateway and demo traffic; run until cancelled, then stop everything.

    Args:
        settings: The dev stack's settings.
    """
    mongodb_uri = settings.mongodb_uri.get_secret_value() if settings.mongodb_uri else None
    stack = DevStack(
        kafka_bootstrap_servers=settings.kafka_bootstrap_servers,
        mongodb_uri=mongodb_uri,
        mongodb_storage_path=settings.dev_data_dir / "mongodb",
        log_dir=settings.dev_data_dir / "logs",
        topics=settings.topics,
        partitions=settings.dev_topic_partitions,
        registry=installed_registry(settings),
    )
    async with stack:
        servers = {
            "kafka_bootstrap_servers": stack.kafka_bootstrap_servers,
            "mongodb_uri": stack.mongodb_uri,
            "topics": settings.topics,
            "create_topics": settings.create_topics,
        }
        gateway_settings = load(GatewaySettings, storefront=True, subgraph=True, **servers)
        materializer_settings = load(MaterializerSettings, **servers)
        registry = installed_registry(materializer_settings)
        async with Materializer(materializer_settings, registry=registry) as materializer:
            app = create_app(gateway_settings)
            gateway = HttpServer(
                app,
                gateway_settings.http_host,
                gateway_settings.http_port,
                **server_options(gateway_settings, app),
            )
            await gateway.start()
            try:
                url = f"http://{gateway_settings.http_host}:{gateway.port}/graphql"
                print(banner(url, stack.kafka_bootstrap_servers, stack.mongodb_uri), flush=True)
                traffic = produce_demo_traffic(
                    stack.kafka_bootstrap_servers,
                    settings.topics,
                    products=settings.demo_products,
                    rate_per_s=settings.demo_rate_per_s,
                )
                async with asyncio.TaskGroup() as group:
                    group.create_task(materializer.run())
                    group.create_task(traffic)
            finally:
                await gateway.stop()
