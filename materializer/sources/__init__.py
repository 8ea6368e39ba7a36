"""The registry of sources: the core ones and those extensions declare.

Settings, the Helm chart's values, its schema and configmap, and the docs' topic
table are all derived from here; ``tests/test_drift.py`` fails when one drifts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from shopwindow.document import COMMON_FIELDS, META
from shopwindow.materializer.sources import catalog, inventory, popularity, prices, reviews
from shopwindow.materializer.sources.base import Source, SourceTopic
from shopwindow.topics import OUTPUT_SETTINGS, TopicNames

CORE_SOURCES: tuple[Source[Any], ...] = (
    catalog.SOURCE,
    prices.SOURCE,
    inventory.SOURCE,
    reviews.SOURCE,
    popularity.SOURCE,
)


class RegistryError(Exception):
    """Two sources claim the same name, or a name is reserved; the message says which."""


class SourceRegistry:
    """The installed sources.

    Args:
        sources: Core sources first, then those of extensions.

    Raises:
        RegistryError: When sections, topic settings or collections collide.
    """

    def __init__(self, sources: Iterable[Source[Any]]) -> None:
        self.sources: tuple[Source[Any], ...] = tuple(sources)
        sections: set[str] = set()
        settings: set[str] = set(OUTPUT_SETTINGS)
        for source in self.sources:
            for name in source.fields:
                if name in sections or name in (*COMMON_FIELDS, META):
                    raise RegistryError(f"section {name!r} is taken")
                sections.add(name)
            for topic in source.topics:
                if topic.setting in settings:
                    raise RegistryError(f"topic setting {topic.setting!r} is taken")
                settings.add(topic.setting)
        # What readers see: the changelog carries these, not a source's history.
        self.sections = frozenset(name for s in self.sources for name in s.public_fields)
        self._source_of = {id(topic): source for source in self.sources for topic in source.topics}

    @property
    def topics(self) -> tuple[SourceTopic, ...]:
        """Every input topic, in declaration order."""
        return tuple(topic for source in self.sources for topic in source.topics)

    def source_of(self, topic: SourceTopic) -> Source[Any]:
        """The source a topic feeds."""
        return self._source_of[id(topic)]

    def by_name(self, topics: TopicNames) -> dict[str, SourceTopic]:
        """Each configured input topic name and its declaration.

        Raises:
            RegistryError: When a topic setting names no installed source.
        """
        known = {topic.setting for topic in self.topics}
        unknown = sorted(set(topics.model_extra or {}) - known)
        if unknown:
            raise RegistryError(
                f"SHOPWINDOW_TOPICS__{unknown[0].upper()} names no installed source; "
                f"known: {', '.join(sorted(known))}"
            )
        return {topics.source(topic.setting, topic.default_name): topic for topic in self.topics}

    def routes(self, topics: TopicNames) -> dict[str, tuple[Source[Any], SourceTopic]]:
        """Each configured input topic name, with its source and declaration."""
        return {
            name: (self.source_of(topic), topic) for name, topic in self.by_name(topics).items()
        }

    def topic_names(self, topics: TopicNames) -> tuple[str, ...]:
        """The input topic names the materializer consumes."""
        return tuple(self.by_name(topics))

    def all_topics(self, topics: TopicNames) -> tuple[str, ...]:
        """Every topic shopwindow reads or writes: the inputs, the changelog, the DLQ and
        its ledger, and the progress topic."""
        return (
            *self.topic_names(topics),
            topics.changelog,
            topics.dead_letter,
            topics.dead_letter_resolved,
            topics.progress,
        )

    def keyed_collections(self) -> tuple[str, ...]:
        """The collections of every keyed state."""
        return tuple(s.keyed_state.collection for s in self.sources if s.keyed_state)


CORE = SourceRegistry(CORE_SOURCES)


def registry_with(extra: Sequence[Source[Any]]) -> SourceRegistry:
    """The core sources plus ``extra`` (from extensions)."""
    return SourceRegistry((*CORE_SOURCES, *extra)) if extra else CORE
