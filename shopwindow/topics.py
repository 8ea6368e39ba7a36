"""Names of the Kafka topics shopwindow reads and writes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shopwindow.document import MAX_RECORD_BYTES


class TopicNames(BaseModel):
    """Topic names, each configurable (``SHOPWINDOW_TOPICS__CATALOG=...``)."""

    model_config = ConfigDict(frozen=True)

    catalog: str = Field(default="catalog.products", min_length=1)
    prices: str = Field(default="pricing.prices", min_length=1)
    inventory: str = Field(default="inventory", min_length=1)
    orders: str = Field(default="orders", min_length=1)
    clicks: str = Field(default="clicks", min_length=1)
    reviews: str = Field(default="reviews", min_length=1)
    changelog: str = Field(default="saleproduct.changes", min_length=1)
    dead_letter: str = Field(default="shopwindow.dlq", min_length=1)

    @property
    def sources(self) -> tuple[str, ...]:
        """The input topics the materializer consumes."""
        return (self.catalog, self.prices, self.inventory, self.orders, self.clicks, self.reviews)

    @property
    def all(self) -> tuple[str, ...]:
        """Every topic, inputs and outputs."""
        return (*self.sources, self.changelog, self.dead_letter)

    def with_prefix(self, prefix: str) -> TopicNames:
        """The same set of topics under a prefix, so parallel users never share data.

        Args:
            prefix: Prepended to every name, e.g. ``"t123."``.

        Returns:
            A new ``TopicNames``.
        """
        return TopicNames(**{name: prefix + value for name, value in self.model_dump().items()})


# Compaction keeps the latest document per product on the changelog. Both topics we
# write take any record of a storable document (brokers default to about 1 MB).
SIZED_CONFIG = {"max.message.bytes": str(MAX_RECORD_BYTES)}
CHANGELOG_CONFIG = {"cleanup.policy": "compact", **SIZED_CONFIG}


def topic_config(topics: TopicNames, name: str) -> dict[str, str]:
    """The configuration shopwindow creates topic ``name`` with."""
    if name == topics.changelog:
        return CHANGELOG_CONFIG
    if name == topics.dead_letter:
        return SIZED_CONFIG
    return {}
