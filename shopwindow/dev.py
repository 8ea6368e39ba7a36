"""``shopwindow dev``: the whole system in one process tree, for development and demos."""

from __future__ import annotations

import asyncio
import logging

from shopwindow.demo_traffic import produce_demo_traffic
from shopwindow.devstack import DevStack
from shopwindow.extensions import installed_registry
from shopwindow.gateway.app import create_app, server_options
from shopwindow.http_server import HttpServer
from shopwindow.materializer.service import Materializer
from shopwindow.settings import DevStackSettings, GatewaySettings, MaterializerSettings, load

log = logging.getLogger(__name__)


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
        }
        gateway_settings = load(GatewaySettings, **servers)
        materializer_settings = load(MaterializerSettings, **servers)
        registry = installed_registry(materializer_settings)
        async with Materializer(materializer_settings, registry=registry) as materializer:
            gateway = HttpServer(
                create_app(gateway_settings),
                gateway_settings.http_host,
                gateway_settings.http_port,
                **server_options(gateway_settings),
            )
            await gateway.start()
            try:
                url = f"http://{gateway_settings.http_host}:{gateway.port}/graphql"
                print(f"shopwindow is up. GraphQL: {url}  (Ctrl-C stops everything)", flush=True)
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
