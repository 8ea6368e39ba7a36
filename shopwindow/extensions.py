"""Extensions: other teams' packages add sources, fields, root fields and DataLoaders.

A package contributes an ``Extension`` through the entry-point group
``shopwindow.extensions`` (or, without packaging, ``SHOPWINDOW_EXTENSIONS=module:attr``):

    [project.entry-points."shopwindow.extensions"]
    promotions = "shopwindow_promotions:extension"

Both roles load the same extensions. The materializer consumes the topics of its
``sources`` into their sections of the document (a new source backfills its topic from
the beginning). The gateway adds the fields of each ``fields`` type to the type it
extends (``{Product: PromotionFields}``), and its ``query`` type's fields to ``Query``.
Loaders are built per request and reach resolvers as ``info.context.loaders[name]``;
the core loader ``info.context.products`` batches every product lookup of the request,
the extension's included.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from strawberry.dataloader import DataLoader

from shopwindow.materializer.sources import RegistryError, SourceRegistry, registry_with
from shopwindow.materializer.sources.base import Source
from shopwindow.mongo import MongoDocument
from shopwindow.settings import ConfigurationError, SourceSettings

ENTRY_POINT_GROUP = "shopwindow.extensions"

LoaderFactory = Callable[[AsyncDatabase[MongoDocument]], Callable[[], DataLoader[Any, Any]]]


@dataclass(frozen=True)
class Extension:
    """What an extension contributes.

    Attributes:
        name: Shown in logs and errors.
        sources: Sources whose topics fold into their own sections of the document.
        fields: By the strawberry type they extend (``Product``), a strawberry type whose
            fields join it.
        query: A strawberry type whose fields are added to ``Query``.
        types: Further types to include (those not reachable otherwise).
        loaders: By name, a function of the database returning a per-request loader
            factory; called once at start-up.
    """

    name: str
    sources: Sequence[Source[Any]] = ()
    fields: Mapping[type, type] = field(default_factory=dict)
    query: type | None = None
    types: Sequence[type] = ()
    loaders: Mapping[str, LoaderFactory] = field(default_factory=dict)


class ExtensionError(Exception):
    """An extension could not be loaded; the message names it."""


def _check(name: str, value: Any) -> Extension:
    if not isinstance(value, Extension):
        raise ExtensionError(f"extension {name!r} is a {type(value).__name__}, not a Extension")
    return value


def load_extensions(explicit: str) -> list[Extension]:
    """The installed extensions plus those named in ``explicit``.

    Args:
        explicit: Comma-separated ``module:attribute`` references.

    Raises:
        ExtensionError: When one cannot be imported or is not an extension.
    """
    found: dict[str, Extension] = {}
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


def configured(settings: SourceSettings) -> tuple[list[Extension], SourceRegistry]:
    """The configured extensions, and the core sources with theirs, checked against the
    topic settings.

    Raises:
        ConfigurationError: When an extension cannot be loaded, two sources collide, or
            a topic setting names no source.
    """
    try:
        extensions = load_extensions(settings.extensions)
        registry = registry_with([source for e in extensions for source in e.sources])
        registry.topic_names(settings.topics)
    except (ExtensionError, RegistryError) as error:
        raise ConfigurationError(str(error)) from None
    return extensions, registry


def installed_registry(settings: SourceSettings) -> SourceRegistry:
    """The registry of ``configured``."""
    return configured(settings)[1]
