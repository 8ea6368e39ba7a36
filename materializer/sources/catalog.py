"""The catalog: a product's name, description, brand, category, images and attributes.

Snapshots (``catalog.products``, usually Debezium CDC of the catalog table) replace the
section whole, newest event time first; a delete or tombstone takes the product off the
page. Only products with a catalog section are served.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from pydantic import Field, field_validator, model_validator

from shopwindow import codes
from shopwindow.cost_directives import list_size
from shopwindow.document import parse_time
from shopwindow.materializer.events import (
    ProductId,
    SourceEvent,
    Text,
    Timestamp,
    encodable,
    storable_decimal,
)
from shopwindow.materializer.sources.base import Source, SourceTopic
from shopwindow.materializer.sources.snapshots import (
    SnapshotDeletion,
    snapshot_decoder,
    snapshot_fold,
    snapshot_time,
)
from shopwindow.materializer.sources.variants import (
    DEFAULT_VARIANT,
    MAX_OPTION_VALUES,
    MAX_OPTIONS,
    Listing,
    OptionName,
    OptionValue,
    Variant,
    listing_content,
    read_options,
    read_variants,
)
from shopwindow.product_type import Product

# More languages than any storefront serves is a producer's bug; each costs the document
# and every changelog record.
MAX_TRANSLATIONS = 50


class Translation(SourceEvent):
    """A product's text in one language; a field left out falls back (``Catalog.text``).

    ``options`` translates option names (``{"size": "Größe"}``), ``option_values`` the
    values of each option by its untranslated name (``{"color": {"black": "schwarz"}}``).
    """

    name: Text | None = None
    description: Text | None = None
    options: dict[OptionName, OptionName] = Field(default_factory=dict, max_length=MAX_OPTIONS)
    option_values: dict[
        OptionName,
        Annotated[dict[OptionValue, OptionValue], Field(max_length=MAX_OPTION_VALUES)],
    ] = Field(default_factory=dict, max_length=MAX_OPTIONS)


class CatalogSnapshot(Listing, SourceEvent):
    """The full catalog record of a product, with its options and variants."""

    product_id: ProductId
    name: Text
    description: Text = ""
    brand: Text | None = None
    category: Text | None = None
    images: list[Text] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
    created_at: Timestamp | None = None
    updated_at: Timestamp
    translations: dict[str, Translation] = Field(default_factory=dict, max_length=MAX_TRANSLATIONS)

    @field_validator("translations")
    @classmethod
    def _one_canonical_tag_per_language(
        cls, value: dict[str, Translation]
    ) -> dict[str, Translation]:
        # "DE" and "de" are one language: two spellings in one record would leave which
        # text is served to dictionary order.
        canonical: dict[str, Translation] = {}
        for tag, translation in value.items():
            key = codes.language_tag(tag)
            if key in canonical:
                raise ValueError(f"language {key!r} is translated twice")
            canonical[key] = translation
        return canonical

    @model_validator(mode="after")
    def _translations_name_what_is_listed(self) -> CatalogSnapshot:
        # A translation of an option or value the record does not list would never
        # show; two options (or values) translated alike could not be told apart.
        declared = {option.name: set(option.values) for option in self.options}
        for tag, translation in self.translations.items():
            for name in [*translation.options, *translation.option_values]:
                if name not in declared:
                    raise ValueError(f"translation {tag!r} names option {name!r}, not listed")
            if len(set(translation.options.values())) != len(translation.options):
                raise ValueError(f"translation {tag!r} gives two options one name")
            for name, values in translation.option_values.items():
                unknown = set(values) - declared[name]
                if unknown:
                    raise ValueError(
                        f"translation {tag!r} names value {sorted(unknown)[0]!r} of option "
                        f"{name!r}, not listed"
                    )
                if len(set(values.values())) != len(values):
                    raise ValueError(f"translation {tag!r} gives two values of {name!r} one name")
        return self

    @field_validator("attributes")
    @classmethod
    def _attributes_are_scalars(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            encodable(key)
            if isinstance(item, str):
                encodable(item)
            if not isinstance(item, str | int | float | bool | Decimal) and item is not None:
                raise ValueError(f"attribute {key!r} must be a scalar")
            if isinstance(item, Decimal):
                storable_decimal(item)
            elif isinstance(item, int) and not -(2**63) <= item < 2**63:
                raise ValueError(f"attribute {key!r} does not fit in 64 bits")
        return value


class CatalogDeletion(SnapshotDeletion):
    """A product left the catalog (tombstone or CDC delete)."""


def content(snapshot: CatalogSnapshot) -> dict[str, Any]:
    """The catalog section a snapshot sets."""
    return {
        "name": snapshot.name,
        "description": snapshot.description,
        "brand": snapshot.brand,
        "category": snapshot.category,
        "images": list(snapshot.images),
        "attributes": [{"name": k, "value": v} for k, v in snapshot.attributes.items()],
        # What "newest" sorts by: when the product was created, as its producer says, or
        # else when its catalog record last changed.
        "listed_at": snapshot.created_at or snapshot.updated_at,
        **listing_content(snapshot),
        # Only when sent: documents of untranslated catalogs stay as they were.
        **({"translations": _translations(snapshot)} if snapshot.translations else {}),
    }


def _translations(snapshot: CatalogSnapshot) -> dict[str, dict[str, Any]]:
    return {
        tag: {
            field: value
            for field, value in translation.model_dump(exclude_none=True).items()
            if value != {}
        }
        for tag, translation in snapshot.translations.items()
    }


@strawberry.type(description="A product attribute, such as colour or size.")
class Attribute:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Catalog:
    """The catalog section, typed."""

    name: str
    description: str
    brand: str | None
    category: str | None
    images: tuple[str, ...]
    attributes: tuple[tuple[str, str], ...]
    listed_at: datetime | None = None
    options: tuple[tuple[str, tuple[str, ...]], ...] = ()
    variants: tuple[Variant, ...] = (DEFAULT_VARIANT,)
    translations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def text(self, name: str, languages: tuple[str, ...]) -> str:
        """Field ``name`` (``name``, ``description``) in the first of ``languages`` that
        translates it; the catalog's own text when none does."""
        for language in languages:
            translated = self.translations.get(language, {}).get(name)
            if translated is not None:
                return str(translated)
        value: str = getattr(self, name)
        return value

    def option_name(self, name: str, languages: tuple[str, ...]) -> str:
        """Option ``name`` in the first of ``languages`` that translates it."""
        for language in languages:
            translated = self.translations.get(language, {}).get("options", {}).get(name)
            if translated is not None:
                return str(translated)
        return name

    def option_value(self, name: str, value: str, languages: tuple[str, ...]) -> str:
        """``value`` of option ``name`` in the first of ``languages`` that translates it."""
        for language in languages:
            values = self.translations.get(language, {}).get("option_values", {}).get(name, {})
            if value in values:
                return str(values[value])
        return value


def attribute_text(value: Any) -> str:
    """An attribute's value as clients see it: text, whatever JSON type it was sent as."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def read(section: Mapping[str, Any] | None) -> Catalog | None:
    """The typed catalog, or ``None`` for a product not (or no longer) cataloged."""
    if section is None:
        return None
    options = read_options(section)
    return Catalog(
        name=section["name"],
        description=section.get("description") or "",
        brand=section.get("brand"),
        category=section.get("category"),
        images=tuple(section.get("images") or ()),
        attributes=tuple(
            [
                (item["name"], attribute_text(item["value"]))
                for item in section.get("attributes") or ()
            ]
        ),
        listed_at=parse_time(section.get("listed_at")),
        options=options,
        variants=read_variants(section, options),
        translations=section.get("translations") or {},
    )


def catalog_of(root: Product) -> Catalog:
    """The catalog of a served product (served products are cataloged)."""
    catalog = root.sale_product.get(SOURCE)
    assert catalog is not None
    return catalog


def _name(root: Product) -> str:
    return catalog_of(root).text("name", root.languages)


def _description(root: Product) -> str:
    return catalog_of(root).text("description", root.languages)


def _brand(root: Product) -> str | None:
    return catalog_of(root).brand


def _category(root: Product) -> str | None:
    return catalog_of(root).category


def _images(root: Product) -> list[str]:
    return list(catalog_of(root).images)


def _attributes(root: Product) -> list[Attribute]:
    return [Attribute(name=name, value=value) for name, value in catalog_of(root).attributes]


@strawberry.type
class CatalogFields:
    name: str = strawberry.field(resolver=_name)
    description: str = strawberry.field(resolver=_description)
    brand: str | None = strawberry.field(resolver=_brand)
    category: str | None = strawberry.field(resolver=_category)
    images: list[str] = strawberry.field(resolver=_images)
    # A guess a router can use too: nothing bounds a product's attributes.
    attributes: list[Attribute] = strawberry.field(
        resolver=_attributes, directives=[list_size(assumed=20)]
    )


TOPIC = SourceTopic(
    setting="catalog",
    default_name="catalog.products",
    description="catalog snapshots and deletions (Debezium CDC of the catalog table)",
    shape='`{"product_id","name","description","brand","category","images":[...],'
    '"attributes":{...},"options":[{"name":"size","values":["S","M"]}],'
    '"variants":[{"sku","options":{"size":"M"},"title","image","barcode"}],'
    '"created_at","updated_at","translations":{"de":{"name","description","options",'
    '"option_values"}}}`; a tombstone '
    "or CDC delete hides the product",
    decode=snapshot_decoder(CatalogSnapshot, CatalogDeletion),
    event_time=snapshot_time,
)

SOURCE: Source[Catalog | None] = Source(
    section="catalog",
    topics=(TOPIC,),
    initial=lambda: None,
    fold=snapshot_fold(content),
    read=read,
    product_fields=CatalogFields,
    makes_visible=True,
)
