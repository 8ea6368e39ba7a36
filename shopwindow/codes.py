"""The ISO codes records and settings name: currencies (ISO 4217), countries (ISO 3166-1
alpha-2) and language tags (BCP 47).

The code lists come from ``pycountry``, which tracks the ISO tables, and tag syntax from
``langcodes``; keeping either by hand would drift from the standards.
"""

from __future__ import annotations

from functools import cache

import langcodes
import pycountry


@cache
def currency_codes() -> frozenset[str]:
    """Every active ISO 4217 currency code (``EUR``, ``CHF``)."""
    return frozenset(currency.alpha_3 for currency in pycountry.currencies)


@cache
def country_codes() -> frozenset[str]:
    """Every ISO 3166-1 alpha-2 country code (``DE``, ``CH``)."""
    return frozenset(country.alpha_2 for country in pycountry.countries)


def currency(code: str) -> str:
    """``code`` if it is an ISO 4217 currency.

    Raises:
        ValueError: For anything else, lower case included (``eur``).
    """
    return _listed(code, currency_codes(), "ISO 4217 currency")


def country(code: str) -> str:
    """``code`` if it is an ISO 3166-1 alpha-2 country.

    Raises:
        ValueError: For anything else, lower case included (``de``).
    """
    return _listed(code, country_codes(), "ISO 3166-1 alpha-2 country")


def _listed(code: str, table: frozenset[str], standard: str) -> str:
    if code not in table:
        raise ValueError(f"not an {standard} code: {code!r}")
    return code


# Tags longer than this are private-use chains no storefront serves; the bound keeps a
# hostile tag from costing a parse.
MAX_LANGUAGE_TAG_LENGTH = 35


def language_tag(tag: str) -> str:
    """``tag`` in its canonical BCP 47 form (``de-ch`` is ``de-CH``).

    Raises:
        ValueError: For a tag that is not well-formed; underscores (``de_CH``), which
            ``langcodes`` would forgive, are refused so a tag has one spelling.
    """
    if len(tag) > MAX_LANGUAGE_TAG_LENGTH or "_" in tag or not langcodes.tag_is_valid(tag):
        raise ValueError(f"not a well-formed BCP 47 language tag: {tag!r}")
    return langcodes.standardize_tag(tag)


# Regional languages Shopify's LanguageCode lists besides ISO 639-1's two letters.
_REGIONAL_LANGUAGES = ("pt-BR", "pt-PT", "zh-CN", "zh-TW")


@cache
def language_codes() -> dict[str, str]:
    """GraphQL's ``LanguageCode`` names and the BCP 47 tags they stand for, as Shopify's
    enum spells them: ISO 639-1 languages (``DE``: ``de``) and a few regional ones
    (``PT_BR``: ``pt-BR``)."""
    tags = [language.alpha_2 for language in pycountry.languages if hasattr(language, "alpha_2")]
    return {tag.upper().replace("-", "_"): tag for tag in sorted([*tags, *_REGIONAL_LANGUAGES])}


def language_code(tag: str) -> str:
    """The ``LanguageCode`` name of a canonical BCP 47 tag (``pt-BR``: ``PT_BR``).

    Raises:
        ValueError: For a tag ``LanguageCode`` cannot name (``de-CH``, ``und``).
    """
    name = tag.upper().replace("-", "_")
    if language_codes().get(name) != tag:
        raise ValueError(f"not a language GraphQL's LanguageCode names: {tag!r}")
    return name
