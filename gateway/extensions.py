"""BFF extensions: other teams' packages add root fields, types and DataLoaders.

A package contributes a ``GatewayExtension`` through the entry-point group
``shopwindow.extensions`` (or, without packaging, ``SHOPWINDOW_EXTENSIONS=module:attr``):

    [project.entry-points."shopwindow.extensions"]
    similar = "shopwindow_similar_products:extension"

Its ``query`` type's fields join ``Query``. Its loaders are built per request and reach
resolvers as ``info.context.loaders[name]``; the core loader ``info.context.products``
batches every product lookup of the request, the extension's included.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from strawberry.dataloader import DataLoader

from shopwindow.mongo import MongoDocument

ENTRY_POINT_GROUP = "shopwindow.extensions"

LoaderFactory = Callable[[AsyncDatabase[MongoDocument]], Callable[[], DataLoader[Any, Any]]]


@dataclass(frozen=True)
class GatewayExtension:
    """What an extension contributes.

    Attributes:
        name: Shown in logs and errors.
        query: A strawberry type whose fields are added to ``Query``.
        types: Further types to include (those not reachable from ``query``).
        loaders: By name, a function of the database returning a per-request loader
            factory; called once at start-up.
    """

    name: str
    query: type | None = None
    types: Sequence[type] = ()
    loaders: Mapping[str, LoaderFactory] = field(default_factory=dict)


class ExtensionError(Exception):
    """An extension could not be loaded; the message names it."""


def _check(name: str, value: Any) -> GatewayExtension:
    if not isinstance(value, GatewayExtension):
        raise ExtensionError(
            f"extension {name!r} is a {type(value).__name__}, not a GatewayExtension"
        )
    return value


def load_extensions(explicit: str) -> list[GatewayExtension]:
    """The installed extensions plus those named in ``explicit``.

    Args:
        explicit: Comma-separated ``module:attribute`` references.

    Raises:
        ExtensionError: When one cannot be imported or is not an extension.
    """
    found: dict[str, GatewayExtension] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found[point.name] = _check(point.name, point.load())
        except ExtensionError:
            raise
        except Exception as error:
            raise ExtensionError(f"extension {point.name!r} failed to load: {error}") from error
    for reference in filter(None, (part.strip() for part in explicit.split(","))):
        module_name, _, attribute = reference.partition(":")
        try:
            value = getattr(importlib.import_module(module_name), attribute or "extension")
        except (ImportError, AttributeError) as error:
            raise ExtensionError(f"extension {reference!r} failed to load: {error}") from error
        extension = _check(reference, value)
        found[extension.name] = extension
    return list(found.values())
