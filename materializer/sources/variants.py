"""Variants: the options a product is sold in (size, colour) and its SKUs.

The catalog record lists ``options`` (names and values, in display order) and
``variants`` (a SKU and one value of every option each). A product that lists none is
sold as one default variant, as on Shopify, so that clients have one path: its SKU is
``None``, and price and stock records without a ``sku`` are its own.

What identifies a variant is its SKU within its product; the catalog decides which
SKUs a product lists. Prices and stock are kept per SKU whether listed or not
(``prices``, ``inventory``), so a delta that arrives before the catalog lists its SKU
is kept, and a SKU the catalog drops keeps its stock, hidden, until it is listed again.

Everything here is checked when a catalog record is read; a record that breaks a rule
is dead-lettered naming it, and the product's other events flow on.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shopwindow.materializer.events import Text

# Shopify's limit since 2024; a catalog record with more variants is dead-lettered.
MAX_VARIANTS = 2048
# Shopify's limit too. Search indexes each variant once per subset of its options
# (``gateway/search/variant_terms.py``), 2**3 - 1 terms, twice that in stock, so the
# bound keeps a product of 2,048 variants under 30,000 terms; typical products, whose
# single-option terms repeat across variants, make a few hundred distinct ones.
MAX_OPTIONS = 3
MAX_OPTION_VALUES = MAX_VARIANTS
DEFAULT_TITLE = "Default Title"
MAX_SKU_LENGTH = 255

# SKUs, option names and values are identifiers shown to people and typed by them
# (barcode scanners, carts): 1-255 characters, as Shopify allows.
Sku = Annotated[Text, Field(min_length=1, max_length=MAX_SKU_LENGTH)]


def _printable(text: str) -> str:
    # Control characters show as nothing in a picker, and search joins option names and
    # values with them (``gateway/search/variant_terms.py``).
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise ValueError("control characters are not allowed in option names and values")
    return text


OptionName = Annotated[Text, Field(min_length=1, max_length=255), AfterValidator(_printable)]
OptionValue = Annotated[Text, Field(min_length=1, max_length=255), AfterValidator(_printable)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class OptionDeclared(_Strict):
    """One option of a product and its values, in display order."""

    name: OptionName
    values: Annotated[list[OptionValue], Field(min_length=1, max_length=MAX_OPTION_VALUES)]


class VariantListed(_Strict):
    """One SKU of a product: a value of each of the product's options."""

    sku: Sku
    options: dict[OptionName, OptionValue] = Field(default_factory=dict)
    title: Annotated[Text, Field(max_length=1024)] | None = None
    image: Annotated[Text, Field(max_length=4096)] | None = None
    barcode: Annotated[Text, Field(max_length=255)] | None = None


def _fold(text: str) -> str:
    # Two names that differ only in case would be one option to a shopper, and to
    # ``caseInsensitiveMatch``: refused as duplicates.
    return text.casefold()


class Listing(_Strict):
    """A product's options and variants, as the catalog record lists them.

    Raises:
        ValueError: When an option name or value repeats, a variant names an option
            the product does not declare or a value it does not list, misses one, two
            variants share a SKU or a combination, or there are more than
            ``MAX_VARIANTS``.
    """

    options: Annotated[list[OptionDeclared], Field(max_length=MAX_OPTIONS)] = Field(
        default_factory=list
    )
    variants: Annotated[list[VariantListed], Field(max_length=MAX_VARIANTS)] = Field(
        default_factory=list
    )

    @model_validator(mode="after")
    def _consistent(self) -> Listing:
        names = [_fold(option.name) for option in self.options]
        if len(set(names)) != len(names):
            raise ValueError("options: duplicate option names")
        for option in self.options:
            values = [_fold(value) for value in option.values]
            if len(set(values)) != len(values):
                raise ValueError(f"options: option {option.name!r} lists a value twice")
        if self.options and not self.variants:
            raise ValueError("options declared without variants")
        declared = {option.name: set(option.values) for option in self.options}
        skus: set[str] = set()
        combinations: set[tuple[str, ...]] = set()
        for variant in self.variants:
            if variant.sku in skus:
                raise ValueError(f"variants: duplicate SKU {variant.sku!r}")
            skus.add(variant.sku)
            for name, value in variant.options.items():
                if name not in declared:
                    raise ValueError(
                        f"variants: SKU {variant.sku!r} names option {name!r}, "
                        "which the product does not declare"
                    )
                if value not in declared[name]:
                    raise ValueError(
                        f"variants: SKU {variant.sku!r} has {name} {value!r}, "
                        "which the product does not list"
                    )
            if len(variant.options) != len(declared):
                missing = sorted(set(declared) - set(variant.options))
                raise ValueError(f"variants: SKU {variant.sku!r} has no value for {missing}")
            combination = tuple(variant.options[option.name] for option in self.options)
            if combination in combinations:
                raise ValueError(
                    f"variants: SKU {variant.sku!r} repeats the options of another variant"
                )
            combinations.add(combination)
        return self


def listing_content(listing: Listing) -> dict[str, Any]:
    """The catalog's ``options`` and ``variants`` as stored.

    A variant's option values are stored by position, in the order the options are
    declared: 2,048 variants would otherwise repeat every option name 2,048 times.
    """
    return {
        "options": [{"name": o.name, "values": list(o.values)} for o in listing.options],
        "variants": [
            {
                "sku": variant.sku,
                "values": [variant.options[option.name] for option in listing.options],
                "title": variant.title
                or " / ".join(variant.options[option.name] for option in listing.options)
                or DEFAULT_TITLE,
                "image": variant.image,
                "barcode": variant.barcode,
            }
            for variant in listing.variants
        ],
    }


@dataclass(frozen=True, slots=True)
class Variant:
    """One variant as readers see it.

    Attributes:
        sku: Its SKU; ``None`` for the default variant of a product that lists none.
        title: What the page shows ("M / red").
        selected_options: ``(name, value)`` of each option, in display order.
        image: Its own image, if any.
        barcode: Its barcode (GTIN, EAN, UPC), if any.
    """

    sku: str | None
    title: str
    selected_options: tuple[tuple[str, str], ...]
    image: str | None = None
    barcode: str | None = None


DEFAULT_VARIANT = Variant(sku=None, title=DEFAULT_TITLE, selected_options=())


def read_options(section: Mapping[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The options of a stored catalog section: ``(name, values)`` in display order."""
    return tuple(
        (option["name"], tuple(option["values"])) for option in section.get("options") or ()
    )


def read_variants(
    section: Mapping[str, Any], options: Sequence[tuple[str, Sequence[str]]]
) -> tuple[Variant, ...]:
    """The variants of a stored catalog section; the default variant when it lists none."""
    listed = section.get("variants") or ()
    if not listed:
        return (DEFAULT_VARIANT,)
    names = [name for name, _ in options]
    return tuple(
        Variant(
            sku=variant["sku"],
            title=variant["title"],
            selected_options=tuple(zip(names, variant["values"], strict=True)),
            image=variant.get("image"),
            barcode=variant.get("barcode"),
        )
        for variant in listed
    )
