"""The context an operation asks for with ``@inContext``, and the context it gets.

``@inContext(country:, language:)`` on a query or subscription picks the market (by
country) and the language, as on Shopify's Storefront API. What applied comes back in
every response's ``extensions.context``, so a client knows what it got: an unknown or
absent country is the default market, and a language the market does not serve falls
back to its default language, which the extension shows next to what was asked.

The context is part of the operation: it is read from the document and its variables,
so every cache keyed by those (answers, entity tags, live groups) keys by it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import EnumValueNode, OperationDefinitionNode, ValueNode, VariableNode

from shopwindow import codes
from shopwindow.markets import Market, Markets, single_market

DIRECTIVE = "inContext"


@dataclass(frozen=True, slots=True)
class Localization:
    """The context an operation runs in.

    Attributes:
        market: The market whose prices apply (``markets.price_order``).
        language: The BCP 47 tag content is served in.
        country: The country asked for, if any (``CountryCode``).
        requested_language: The language asked for, if any (``LanguageCode``).
        price_order: The markets whose prices apply, in order (``offers``): the
            market, then its fallbacks; ``None`` stands for the default market, whose
            prices are stored without one.
    """

    market: Market
    language: str
    country: str | None = None
    requested_language: str | None = None
    price_order: tuple[str | None, ...] = (None,)

    @property
    def content_languages(self) -> tuple[str, ...]:
        """The translations content is looked up in, in order: the language served, its
        base language (``pt`` for ``pt-BR``), then the market's default language."""
        order = [self.language, self.language.split("-")[0], self.market.default_language]
        return tuple(dict.fromkeys(order))

    def as_extension(self) -> dict[str, Any]:
        """``extensions.context``: what applied, and what was asked where it differs."""
        applied = codes.language_code(self.language)
        extension: dict[str, Any] = {
            "country": self.country,
            "language": applied,
            "market": self.market.id,
            "currency": self.market.currency,
        }
        if self.requested_language is not None and self.requested_language != applied:
            extension["requestedLanguage"] = self.requested_language
        return extension


DEFAULT = Localization(single_market().default, single_market().default.default_language)


class Localizer:
    """The context operations ask for with ``@inContext``, resolved in one deployment's
    markets. Each resolution is kept: every request asks for one, and resolving it anew
    cost 2.5 % of a kept answer's time. Bounded: a country and a language are each a
    code of a fixed list, or absent.

    Args:
        markets: The deployment's markets.
    """

    def __init__(self, markets: Markets) -> None:
        self._markets = markets
        self._resolved: dict[tuple[str | None, str | None], Localization] = {}

    def __call__(
        self, definition: OperationDefinitionNode, variables: Mapping[str, Any] | None
    ) -> Localization:
        """The context ``definition`` asks for, resolved.

        Validation has run: the directive appears at most once, on the operation, with
        arguments of the right types. A variable that does not hold a valid value is
        left to variable coercion, which fails the operation; here it counts as absent.
        """
        asked = _asked(definition, variables)
        found = self._resolved.get(asked)
        if found is None:
            found = self._resolved[asked] = _resolve(*asked, self._markets)
        return found


def _asked(
    definition: OperationDefinitionNode, variables: Mapping[str, Any] | None
) -> tuple[str | None, str | None]:
    country = language = None
    for directive in definition.directives or ():
        if directive.name.value != DIRECTIVE:
            continue
        for argument in directive.arguments or ():
            value = _enum_name(argument.value, variables)
            if argument.name.value == "country" and value in codes.country_codes():
                country = value
            elif argument.name.value == "language" and value in codes.language_codes():
                language = value
    return country, language


def _resolve(country: str | None, language: str | None, markets: Markets) -> Localization:
    market = markets.for_country(country)
    requested_tag = codes.language_codes()[language] if language is not None else None
    price_order = markets.stored_price_order(market)
    return Localization(market, market.language_for(requested_tag), country, language, price_order)


def _enum_name(value: ValueNode, variables: Mapping[str, Any] | None) -> str | None:
    if isinstance(value, EnumValueNode):
        return value.value
    if isinstance(value, VariableNode) and variables is not None:
        found = variables.get(value.name.value)
        return found if isinstance(found, str) else None
    return None
