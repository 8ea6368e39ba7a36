"""Markets: which prices and which language a shopper in a country sees.

Markets are configuration, reviewed like code: a YAML or JSON file named by
``SHOPWINDOW_MARKETS_FILE``. Every role reads it once at start and refuses to start on
a file it cannot use (an unknown currency, a country in two markets, a fallback cycle),
naming the file and the problem. Without a file there is one market, ``default``, that
serves every country in the currency each price names: deployments from before markets
keep working unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import orjson
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, ValidationError

from shopwindow import codes

DEFAULT_MARKET_ID = "default"
DEFAULT_LANGUAGE = "en"
# A markets file is a page of configuration; anything larger is the wrong file.
MAX_FILE_BYTES = 1024 * 1024
# Each market is a key in product documents; past this many, documents and the index
# grow with configuration nobody reviews.
MAX_MARKETS = 64

CountryCode = Annotated[StrictStr, AfterValidator(codes.country)]
CurrencyCode = Annotated[StrictStr, AfterValidator(codes.currency)]


def _nameable(tag: str) -> str:
    codes.language_code(tag)  # a shopper must be able to ask for it with @inContext
    return tag


MarketLanguage = Annotated[StrictStr, AfterValidator(codes.language_tag), AfterValidator(_nameable)]
# Market ids become MongoDB field names and index terms: a safe alphabet.
MarketId = Annotated[StrictStr, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]


class MarketsError(ValueError):
    """A markets file the roles cannot use; the message names the file and the fault."""


class _Market(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: MarketId
    countries: list[CountryCode] = Field(max_length=300)
    currency: CurrencyCode
    default_language: MarketLanguage
    languages: list[MarketLanguage] | None = Field(default=None, max_length=200)
    fallback: MarketId | None = None


class _MarketsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default_market: MarketId
    markets: list[_Market] = Field(min_length=1, max_length=MAX_MARKETS)


@dataclass(frozen=True, slots=True)
class Market:
    """One market.

    Attributes:
        id: Its name in records and responses (``ch``).
        countries: The ISO 3166-1 countries it serves.
        currency: Its ISO 4217 currency; ``None`` only for the implicit default market,
            whose prices name their own.
        default_language: The BCP 47 tag content falls back to.
        languages: The languages it serves; ``None``: any a shopper asks for, each
            field falling back to the default language where it has no translation.
        fallback: The market whose prices apply where this one has none.
    """

    id: str
    countries: frozenset[str]
    currency: str | None
    default_language: str
    languages: frozenset[str] | None = None
    fallback: str | None = None

    def language_for(self, requested: str | None) -> str:
        """The language content is served in: ``requested`` if the market serves it,
        else its default language."""
        if requested is None or (self.languages is not None and requested not in self.languages):
            return self.default_language
        return requested


@dataclass(frozen=True, slots=True)
class Markets:
    """The markets of a deployment, resolved for lookups."""

    by_id: dict[str, Market]
    default: Market
    by_country: dict[str, Market]

    def for_country(self, country: str | None) -> Market:
        """The market serving ``country``; the default market for an unknown or absent one."""
        found = self.by_country.get(country) if country is not None else None
        return found if found is not None else self.default

    def price_order(self, market: Market) -> tuple[str, ...]:
        """The markets whose prices ``market`` shows, in order: itself, then its fallbacks."""
        order = [market.id]
        while (fallback := self.by_id[order[-1]].fallback) is not None:
            order.append(fallback)
        return tuple(order)

    def stored_price_order(self, market: Market) -> tuple[str | None, ...]:
        """``price_order`` as documents store prices: ``None`` for the default market,
        whose prices are kept without a market."""
        return tuple(None if name == self.default.id else name for name in self.price_order(market))

    def other_price_orders(self) -> dict[str, tuple[str | None, ...]]:
        """The stored price order of every market but the default one, by market id."""
        return {
            market.id: self.stored_price_order(market)
            for market in self.by_id.values()
            if market is not self.default
        }


def single_market() -> Markets:
    """The one market of a deployment without a markets file."""
    market = Market(DEFAULT_MARKET_ID, frozenset(), None, DEFAULT_LANGUAGE)
    return Markets({market.id: market}, market, {})


def load_markets(path: Path | None) -> Markets:
    """The markets ``path`` declares, or the single default market without a file.

    Raises:
        MarketsError: When the file is unreadable, malformed or inconsistent.
    """
    if path is None:
        return single_market()
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise MarketsError(f"cannot read the markets file {path}: {error.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise MarketsError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        return markets_of(_parse(path, raw))
    except MarketsError as error:
        raise MarketsError(f"{path}: {error}") from None


def markets_of(data: Any) -> Markets:
    """The markets a parsed file declares.

    Raises:
        MarketsError: When the declaration is malformed or inconsistent.
    """
    try:
        declared = _MarketsFile.model_validate(data)
    except ValidationError as error:
        raise MarketsError(
            "; ".join(
                f"{'.'.join(str(part) for part in item['loc']) or 'file'}: {item['msg']}"
                for item in error.errors()
            )
        ) from None
    by_id: dict[str, Market] = {}
    by_country: dict[str, Market] = {}
    for entry in declared.markets:
        if entry.id in by_id:
            raise MarketsError(f"market {entry.id!r} is declared twice")
        languages = None
        if entry.languages is not None:
            languages = frozenset([*entry.languages, entry.default_language])
        market = Market(
            entry.id,
            frozenset(entry.countries),
            entry.currency,
            entry.default_language,
            languages,
            entry.fallback,
        )
        for country in sorted(market.countries):
            if country in by_country:
                raise MarketsError(
                    f"country {country} is in two markets: {by_country[country].id!r} "
                    f"and {market.id!r}"
                )
            by_country[country] = market
        by_id[market.id] = market
    if declared.default_market not in by_id:
        raise MarketsError(f"default_market {declared.default_market!r} is not a market")
    for market in by_id.values():
        _check_fallbacks(market, by_id)
    return Markets(by_id, by_id[declared.default_market], by_country)


def _check_fallbacks(market: Market, by_id: dict[str, Market]) -> None:
    seen = [market.id]
    fallback = market.fallback
    while fallback is not None:
        if fallback not in by_id:
            raise MarketsError(f"market {seen[-1]!r} falls back to {fallback!r}, not a market")
        if fallback in seen:
            raise MarketsError("fallback cycle: " + " -> ".join([*seen, fallback]))
        seen.append(fallback)
        fallback = by_id[fallback].fallback


class _StrictLoader(yaml.SafeLoader):
    """YAML without YAML 1.1's implicit booleans: ``NO`` is Norway, not ``False``."""


_BOOL = "tag:yaml.org,2002:bool"
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _parse(path: Path, raw: bytes) -> Any:
    try:
        if path.suffix.lower() == ".json":
            return orjson.loads(raw)
        return yaml.load(raw.decode("utf-8"), Loader=_StrictLoader)
    except (orjson.JSONDecodeError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise MarketsError(f"not valid {_kind(path)}: {error}") from None


def _kind(path: Path) -> str:
    return "JSON" if path.suffix.lower() == ".json" else "YAML"
