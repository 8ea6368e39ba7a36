"""Names of the Kafka topics shopwindow reads and writes.

The input topics are declared by their sources (``shopwindow.materializer.sources``);
each is named by ``SHOPWINDOW_TOPICS__<SETTING>`` or takes its source's default. The
outputs (the changelog, the dead-letter topic and its ledger, the progress topic) are
fields here.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shopwindow.document import MAX_RECORD_BYTES

# Settings of the topics shopwindow writes; no source may use them.
OUTPUT_SETTINGS = (
    "changelog",
    "dead_letter",
    "dead_letter_resolved",
    "progress",
    "source_prefix",
)


# What Kafka accepts as a topic name (kafka.common.internals.Topic): checked when the
# settings are read, so a bad name fails at start with its variable, not at first use.
_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def legal_topic_name(name: str) -> str:
    """``name``, if Kafka accepts it as a topic name.

    Raises:
        ValueError: Naming what is wrong with it.
    """
    if not _LEGAL_TOPIC.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"{name[:60]!r} is not a Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)")
    return name


class TopicNames(BaseModel):
    """Topic names, each configurable (``SHOPWINDOW_TOPICS__CATALOG=...``).

    Input topics are the extra fields, by their source's setting; whether each names an
    installed source is checked by the registry when the materializer starts.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    changelog: str = Field(default="saleproduct.changes", min_length=1)
    dead_letter: str = Field(default="shopwindow.dlq", min_length=1)
    dead_letter_resolved: str = Field(
        default="shopwindow.dlq.resolved",
        min_length=1,
        description="Per dead letter, whether it was replayed or discarded (shopwindow dlq).",
    )
    progress: str = Field(
        default="shopwindow.progress",
        min_length=1,
        description="Per source partition, the offset up to which every record is applied.",
    )
    source_prefix: str = Field(
        default="", description="Prepended to the default name of every input topic."
    )

    @field_validator("changelog", "dead_letter", "dead_letter_resolved", "progress")
    @classmethod
    def _legal(cls, name: str) -> str:
        return legal_topic_name(name)

    @field_validator("source_prefix")
    @classmethod
    def _legal_prefix(cls, prefix: str) -> str:
        return legal_topic_name(prefix) if prefix else prefix

    @model_validator(mode="after")
    def _names_are_text(self) -> TopicNames:
        for setting, name in (self.model_extra or {}).items():
            # Extra fields have no location of their own: the message names the variable.
            variable = f"SHOPWINDOW_TOPICS__{setting.upper()}"
            if not isinstance(name, str) or not name:
                raise ValueError(f"{variable} must be a non-empty name")
            try:
                legal_topic_name(name)
            except ValueError as error:
                raise ValueError(f"{variable}: {error}") from None
        return self

    def source(self, setting: str, default_name: str) -> str:
        """The name of an input topic: configured, or its default under the prefix."""
        configured: str | None = (self.model_extra or {}).get(setting)
        return configured if configured is not None else self.source_prefix + default_name

    def with_prefix(self, prefix: str) -> TopicNames:
        """The same set of topics under a prefix, so parallel users never share data.

        Args:
            prefix: Prepended to every name, e.g. ``"t123."``.

        Returns:
            A new ``TopicNames``.
        """
        return TopicNames(
            changelog=prefix + self.changelog,
            dead_letter=prefix + self.dead_letter,
            dead_letter_resolved=prefix + self.dead_letter_resolved,
            progress=prefix + self.progress,
            source_prefix=prefix + self.source_prefix,
            **{setting: prefix + name for setting, name in (self.model_extra or {}).items()},
        )


# Compaction keeps the latest document per product on the changelog. Both topics we
# write take any record of a storable document (brokers default to about 1 MB).
SIZED_CONFIG = {"max.message.bytes": str(MAX_RECORD_BYTES)}
CHANGELOG_CONFIG = {"cleanup.policy": "compact", **SIZED_CONFIG}


def topic_config(topics: TopicNames, name: str) -> dict[str, str]:
    """The configuration shopwindow creates topic ``name`` with."""
    if name in (topics.changelog, topics.progress, topics.dead_letter_resolved):
        return CHANGELOG_CONFIG
    if name == topics.dead_letter:
        return SIZED_CONFIG
    return {}
