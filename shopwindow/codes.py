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
    if code not in currency_codes():
        raise ValueError(f"not an ISO 4217 currency code: {code!r}")
    return code


def country(code: str) -> str:
    """``code`` if it is an ISO 3166-1 alpha-2 country.

    Raises:
        ValueError: For anything else, lower case included (``de``).
    """
    if code not in country_codes():
        raise ValueError(f"not an ISO 3166-1 alpha-2 country code: {code!r}")
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
