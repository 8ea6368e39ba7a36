"""The ``shopwindow`` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import signal
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from shopwindow.demo_events import FIRST_PRODUCT, FIRST_SKU
from shopwindow.gc_tuning import tune_for_long_lived_objects
from shopwindow.logs import setup_logging
from shopwindow.settings import (
    ConfigurationError,
    DeadLetterToolSettings,
    DemoTrafficSettings,
    DevStackSettings,
    GatewaySettings,
    KafkaToolSettings,
    MaterializerSettings,
    SourceSettings,
    StatusSettings,
    load,
)
from shopwindow.standins import INSTALL, missing_standins
from shopwindow.tracing import configure_tracing

log = logging.getLogger("shopwindow")


def example_command(timestamp: str) -> str:
    """A ``shopwindow produce`` command a newcomer can paste: a stock take of the demo's
    first product's black M, which its page shows at once (it opens on that variant
    when picked, and ``Product.stock`` sums it)."""
    event = {"product_id": FIRST_PRODUCT, "sku": FIRST_SKU, "quantity": 42, "timestamp": timestamp}
    return f"{command_name()} produce inventory '{json.dumps(event)}'"


def command_name() -> str:
    """How a newcomer's shell runs this command: ``make run`` leaves it in .venv/bin,
    often not on the PATH."""
    return "shopwindow" if shutil.which("shopwindow") else f"{sys.executable} -m shopwindow.cli"


def _run(main: Coroutine[Any, Any, None]) -> int:
    async def until_signalled() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        try:
            await main
        except asyncio.CancelledError:
            log.info("stopped")

    # Both roles hold many long-lived objects (subscriptions, cached documents).
    tune_for_long_lived_objects()
    try:
        import uvloop

        uvloop.run(until_signalled())
    except ImportError:  # uvloop is in uvicorn[standard], but not on every platform.
        asyncio.run(until_signalled())
    return 0


def _dev(args: argparse.Namespace) -> int:
    settings = load(DevStackSettings)
    setup_logging(settings.log_level, settings.log_format)
    configure_tracing("shopwindow", os.environ)
    missing = missing_standins(
        settings.kafka_bootstrap_servers is not None, settings.mongodb_uri is not None
    )
    if missing:
        print(
            f"shopwindow dev: the embedded stand-ins are not installed ({', '.join(missing)})."
            f" Install them with: {INSTALL}; or give servers of your own in "
            "SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS and SHOPWINDOW_MONGODB_URI.",
            file=sys.stderr,
        )
        return 2
    from shopwindow.dev import run_dev

    return _run(run_dev(settings))


def _materialize(args: argparse.Namespace) -> int:
    from shopwindow.extensions import installed_registry
    from shopwindow.materializer.service import Materializer

    settings = load(MaterializerSettings)
    setup_logging(settings.log_level, settings.log_format)
    configure_tracing("shopwindow-materializer", os.environ)

    async def main() -> None:
        async with Materializer(settings, registry=installed_registry(settings)) as materializer:
            await materializer.run()

    return _run(main())


def _serve(args: argparse.Namespace) -> int:
    from shopwindow.gateway.app import create_app, server_options
    from shopwindow.http_server import HttpServer

    settings = load(GatewaySettings)
    setup_logging(settings.log_level, settings.log_format)
    configure_tracing("shopwindow-gateway", os.environ)

    async def main() -> None:
        app = create_app(settings)
        server = HttpServer(
            app, settings.http_host, settings.http_port, **server_options(settings, app)
        )
        await server.start()
        log.info("serving", extra={"url": f"http://{settings.http_host}:{server.port}/graphql"})
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    return _run(main())


def _demo_traffic(args: argparse.Namespace) -> int:
    from shopwindow.demo_traffic import produce_demo_traffic

    overrides: dict[str, Any] = {}
    if args.rate is not None:
        overrides["demo_rate_per_s"] = args.rate
    if args.products is not None:
        overrides["demo_products"] = args.products
    settings = load(DemoTrafficSettings, **overrides)
    setup_logging(settings.log_level, settings.log_format)

    async def main() -> None:
        await produce_demo_traffic(
            settings.kafka_bootstrap_servers,
            settings.topics,
            products=settings.demo_products,
            rate_per_s=settings.demo_rate_per_s,
            total=args.count,
        )

    return _run(main())


def _produce(args: argparse.Namespace) -> int:
    from shopwindow.extensions import installed_registry
    from shopwindow.produce import EventRefused, checked_event, send

    settings = load(KafkaToolSettings)
    setup_logging(settings.log_level, settings.log_format)
    registry = installed_registry(settings)
    try:
        event = checked_event(registry, settings.topics, args.topic, args.event, args.key)
    except EventRefused as refused:
        print(f"shopwindow: {refused}", file=sys.stderr)
        return 2
    partition, offset = asyncio.run(send(settings.kafka_bootstrap_servers, event))
    print(f"sent to {event.topic} (partition {partition}, offset {offset})")
    return 0


def _create_topics(args: argparse.Namespace) -> int:
    from shopwindow.extensions import installed_registry
    from shopwindow.kafka_admin import create_topics
    from shopwindow.topic_check import check_topics, every_owned_need, materializer_needs

    settings = load(KafkaToolSettings)
    setup_logging(settings.log_level, settings.log_format)
    registry = installed_registry(settings)
    every = materializer_needs(registry, settings.topics) if args.with_inputs else []
    inputs = [need for need in every if not need.owned]
    needs = [*inputs, *every_owned_need(settings.topics)]

    async def main() -> None:
        # Inputs included only on request: in production their producers own them.
        names = [need.name for need in needs]
        created = await create_topics(
            settings.kafka_bootstrap_servers,
            settings.topics,
            settings.topic_partitions,
            names,
            settings.topic_replication_factor,
        )
        print(f"created {len(created)} of {len(names)} topics: {', '.join(created) or 'none'}")
        # What already existed must be configured as shopwindow needs it.
        await check_topics(settings.kafka_bootstrap_servers, settings.topics, needs)

    asyncio.run(main())
    return 0


def _dlq(args: argparse.Namespace) -> int:
    from shopwindow import dlq
    from shopwindow.dead_letters import Selection
    from shopwindow.extensions import installed_registry
    from shopwindow.topic_check import check_topics, dead_letter_tool_needs

    settings = load(DeadLetterToolSettings)
    setup_logging(settings.log_level, settings.log_format)
    selection = None
    if args.dlq_command in ("replay", "discard"):
        try:
            ids = frozenset(args.id or ())
            selection = Selection(args.reason, args.topic, ids, args.all)
        except ValueError as error:
            print(f"shopwindow dlq: {error}", file=sys.stderr)
            return 2
    sources = set(installed_registry(settings).topic_names(settings.topics))

    async def main() -> int:
        # A missing dead-letter topic would read as "no letters": say so instead.
        await check_topics(
            settings.kafka_bootstrap_servers,
            settings.topics,
            dead_letter_tool_needs(settings.topics),
        )
        letters = await dlq.load_open(settings.kafka_bootstrap_servers, settings.topics)
        if args.dlq_command == "list":
            print(dlq.listing(letters))
            return 0
        if args.dlq_command == "show":
            found = [letter for letter in letters if letter.id == args.letter]
            if not found:
                print(f"shopwindow dlq: no open dead letter {args.letter}", file=sys.stderr)
                return 2
            print(dlq.showing(found[0]))
            return 0
        assert selection is not None
        replay = args.dlq_command == "replay"
        async with dlq.parked_keys(settings.mongodb_uri, settings.mongodb_database) as unpark:
            lines = await dlq.resolve(
                settings.kafka_bootstrap_servers,
                settings.topics,
                sources,
                letters,
                selection,
                replay,
                unpark,
            )
        print("\n".join(lines))
        return 0

    return asyncio.run(main())


def _rebuild(args: argparse.Namespace) -> int:
    from rich.console import Console

    from shopwindow.extensions import installed_registry
    from shopwindow.rebuild import Rebuild, RebuildError

    settings = load(MaterializerSettings)
    setup_logging(settings.log_level, settings.log_format)
    console = Console(stderr=True)

    async def main() -> int:
        async with Rebuild(settings, installed_registry(settings), console) as rebuild:
            try:
                if args.finish:
                    print(f"dropped generation {await rebuild.finish()}")
                elif args.abandon:
                    print(f"abandoned generation {await rebuild.abandon()}")
                else:
                    report = await (rebuild.rollback() if args.rollback else rebuild.run())
                    pointer = await rebuild.pointers.read()
                    print(
                        f"serving generation {pointer.generation} (kept for --rollback: "
                        f"{pointer.previous}); switch took {report.seconds:.2f} s, "
                        f"{report.members} live members paused, {report.raised} versions "
                        f"raised, {report.announced} documents announced"
                    )
            except RebuildError as error:
                print(f"shopwindow rebuild: {error}", file=sys.stderr)
                return 2
        return 0

    return asyncio.run(main())


def _status(args: argparse.Namespace) -> int:
    from rich.console import Console, Group
    from rich.live import Live

    from shopwindow import status
    from shopwindow.extensions import installed_registry

    settings = load(StatusSettings)
    setup_logging("ERROR", settings.log_format)  # The tables are the output.
    reader = status.StatusReader(settings, installed_registry(settings), args.gateways)

    async def main() -> None:
        if args.json:
            print(status.as_json(await reader.read()))
            return
        console = Console()
        if not args.watch:
            for shown in status.tables(await reader.read()):
                console.print(shown)
            return
        if not console.is_terminal:  # Piped: each round in turn, as `watch` would log.
            while True:
                for shown in status.tables(await reader.read()):
                    console.print(shown)
                console.print()
                await asyncio.sleep(args.interval_s)
        with Live(console=console, auto_refresh=False) as live:
            while True:
                live.update(Group(*status.tables(await reader.read())), refresh=True)
                await asyncio.sleep(args.interval_s)

    if args.watch:
        return _run(main())
    asyncio.run(main())
    return 0


def _schema(args: argparse.Namespace) -> int:
    from shopwindow.extensions import configured
    from shopwindow.gateway.schema.build import build_schema

    if args.with_extensions:
        # Only the extensions' code matters here; nothing connects.
        extensions, registry = configured(load(SourceSettings))
        sys.stdout.write(build_schema(extensions, registry).as_str() + "\n")
    else:
        sys.stdout.write(build_schema().as_str() + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; every setting comes from ``SHOPWINDOW_*`` variables."""
    parser = argparse.ArgumentParser(
        prog="shopwindow",
        description="Product-page read model: Kafka events -> MongoDB documents -> GraphQL. "
        "Configured by SHOPWINDOW_* environment variables (see docs/configuration.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "dev",
        help="run everything locally: Kafka and MongoDB (embedded stand-ins unless "
        "SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS / SHOPWINDOW_MONGODB_URI are set), the "
        "materializer, the gateway and demo traffic; prints the GraphQL URL",
    ).set_defaults(handler=_dev)
    commands.add_parser(
        "materialize", help="consume the source topics into MongoDB documents"
    ).set_defaults(handler=_materialize)
    commands.add_parser("serve", help="serve the GraphQL API").set_defaults(handler=_serve)
    demo = commands.add_parser(
        "demo-traffic", help="produce realistic source events to Kafka at a steady rate"
    )
    demo.add_argument("--rate", type=float, help="events per second (SHOPWINDOW_DEMO_RATE_PER_S)")
    demo.add_argument("--products", type=int, help="number of products (SHOPWINDOW_DEMO_PRODUCTS)")
    demo.add_argument("--count", type=int, help="stop after this many events (default: never)")
    demo.set_defaults(handler=_demo_traffic)
    produce = commands.add_parser(
        "produce",
        help="send one source event (checked as the materializer would read it first)",
        description="Send one event to a source topic, e.g.: "
        + example_command("2026-01-01T00:00:00Z")
        + " (Kafka: SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS).",
    )
    produce.add_argument("topic", help="a source (catalog, prices, inventory, ...) or topic name")
    produce.add_argument("event", help="the event as JSON")
    produce.add_argument("--key", help="the record key (default: the event's product_id)")
    produce.set_defaults(handler=_produce)
    dlq = commands.add_parser(
        "dlq", help="dead letters: list, show, replay (after a fix) or discard them"
    )
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    dlq_commands.add_parser("list", help="open dead letters by source topic and reason")
    dlq_commands.add_parser("show", help="one dead letter with its headers").add_argument(
        "letter", help="its id, partition:offset of the dead-letter topic (see list)"
    )
    for action, text in (
        ("replay", "send dead letters back to their source topics"),
        ("discard", "drop dead letters for good"),
    ):
        chosen = dlq_commands.add_parser(action, help=text)
        chosen.add_argument("--reason", help="reasons starting with this text")
        chosen.add_argument("--topic", help="from this source topic")
        chosen.add_argument("--id", action="append", help="this letter (repeatable)")
        chosen.add_argument("--all", action="store_true", help="every open letter")
    dlq.set_defaults(handler=_dlq)
    create = commands.add_parser(
        "create-topics",
        help="create the missing topics shopwindow writes, configured as it needs them",
    )
    create.add_argument(
        "--with-inputs",
        action="store_true",
        help="also create the missing input topics (a development or test cluster)",
    )
    create.set_defaults(handler=_create_topics)
    rebuild = commands.add_parser(
        "rebuild",
        help="rebuild every document from the source topics beside the served ones, "
        "then switch to them; or roll back, finish, or abandon",
    )
    choice = rebuild.add_mutually_exclusive_group()
    choice.add_argument(
        "--rollback", action="store_true", help="catch the previous generation up, serve it"
    )
    choice.add_argument(
        "--finish", action="store_true", help="drop the previous generation (no rollback)"
    )
    choice.add_argument(
        "--abandon", action="store_true", help="stop a build and drop what it built"
    )
    rebuild.set_defaults(handler=_rebuild)
    status_parser = commands.add_parser(
        "status", help="serving generation, lag, freshness, dead letters, changelog, gateways"
    )
    status_parser.add_argument(
        "--gateways", nargs="+", default=[], metavar="URL", help="gateways to ask as well"
    )
    shown = status_parser.add_mutually_exclusive_group()
    shown.add_argument("--watch", action="store_true", help="redraw the tables until stopped")
    shown.add_argument("--json", action="store_true", help="one JSON object, for scripts")
    status_parser.add_argument(
        "--interval-s", type=float, default=2.0, help="seconds between redraws with --watch"
    )
    status_parser.set_defaults(handler=_status)
    schema = commands.add_parser(
        "schema", help="print the core GraphQL schema (SDL), the public contract"
    )
    schema.add_argument(
        "--with-extensions",
        action="store_true",
        help="print the schema composed with the installed extensions",
    )
    schema.set_defaults(handler=_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``shopwindow`` console script."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except ConfigurationError as error:
        print(f"shopwindow: configuration error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        log.exception("failed")
        print(f"shopwindow: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
