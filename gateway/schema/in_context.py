"""``@inContext``, Shopify's directive for the market and language of an operation,
with the ``CountryCode`` and ``LanguageCode`` enums it takes.

The directive is declared here; ``execution.localization`` reads it from the operation.
The enums are generated from the ISO tables (``shopwindow.codes``), so they name every
country and every language a markets file may.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any, cast

import strawberry
from strawberry.directive import DirectiveLocation

from shopwindow import codes


def _enum(name: str, values: Iterable[str]) -> type[enum.Enum]:
    # The functional API, which mypy types only for literal members.
    return cast("type[enum.Enum]", enum.Enum(name, {value: value for value in values}))


CountryCode: Any = strawberry.enum(
    _enum("CountryCode", sorted(codes.country_codes())),
    description="An ISO 3166-1 alpha-2 country code.",
)
LanguageCode: Any = strawberry.enum(
    _enum("LanguageCode", codes.language_codes()),
    description="An ISO 639-1 language code, or a regional one such as `PT_BR`.",
)


@strawberry.directive(
    locations=[DirectiveLocation.QUERY, DirectiveLocation.SUBSCRIPTION],
    name="inContext",
    description="The country (hence the market and its prices) and the language the "
    "operation is answered in; `extensions.context` says what applied.",
)
def in_context(
    country: CountryCode | None = strawberry.UNSET, language: LanguageCode | None = strawberry.UNSET
) -> None:
    """Read by the gateway from the operation; never resolved."""
