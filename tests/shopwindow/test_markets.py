"""The markets file: read once at start, refused whole with the file and fault named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shopwindow import codes
from shopwindow.cli import main
from shopwindow.markets import (
    DEFAULT_MARKET_ID,
    MAX_FILE_BYTES,
    MAX_MARKETS,
    MarketsError,
    load_markets,
    markets_of,
)
from shopwindow.settings import ConfigurationError, GatewaySettings, MaterializerSettings, load

ISSUE_EXAMPLE = """\
default_market: eu
markets:
  - id: eu
    countries: [DE, FR, AT]
    currency: EUR
    default_language: en
  - id: ch
    countries: [CH]
    currency: CHF
    default_language: de
    fallback: eu      # optional
"""


def market(market_id: str, *countries: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": market_id,
        "countries": list(countries),
        "currency": "EUR",
        "default_language": "en",
        **fields,
    }


def declared(*markets: dict[str, Any], default: str = "eu") -> dict[str, Any]:
    return {"default_market": default, "markets": list(markets)}


def test_the_issue_example(tmp_path: Path) -> None:
    path = tmp_path / "markets.yaml"
    path.write_text(ISSUE_EXAMPLE)
    markets = load_markets(path)
    assert markets.default.id == "eu"
    assert markets.for_country("CH").currency == "CHF"
    assert markets.for_country("FR").id == "eu"
    assert markets.price_order(markets.by_id["ch"]) == ("ch", "eu")
    assert markets.price_order(markets.default) == ("eu",)


@pytest.mark.parametrize("country", [None, "US", "ZZ", "", "ch", "\x00"])
def test_an_unknown_or_absent_country_is_the_default_market(
    tmp_path: Path, country: str | None
) -> None:
    path = tmp_path / "markets.yml"
    path.write_text(ISSUE_EXAMPLE)
    assert load_markets(path).for_country(country).id == "eu"


def test_without_a_file_one_market_serves_every_country() -> None:
    markets = load_markets(None)
    assert markets.for_country("CH").id == markets.for_country(None).id == DEFAULT_MARKET_ID
    assert markets.default.currency is None  # prices name their own, as before markets
    assert markets.price_order(markets.default) == (DEFAULT_MARKET_ID,)


def test_json_is_read_by_its_suffix(tmp_path: Path) -> None:
    path = tmp_path / "markets.json"
    path.write_text(json.dumps(declared(market("eu", "DE"))))
    assert load_markets(path).for_country("DE").id == "eu"


def test_norway_is_a_country_not_false(tmp_path: Path) -> None:
    # YAML 1.1 reads a bare NO as false; the markets file must not.
    path = tmp_path / "markets.yaml"
    path.write_text(
        "default_market: nordic\nmarkets:\n  - {id: nordic, countries: [NO, SE],"
        " currency: NOK, default_language: nb}\n"
    )
    assert load_markets(path).for_country("NO").id == "nordic"


def test_language_tags_are_kept_canonical() -> None:
    markets = markets_of(declared(market("eu", "DE", default_language="PT-br")))
    assert markets.default.default_language == "pt-BR"


@pytest.mark.parametrize(
    ("languages", "requested", "served"),
    [
        (None, None, "en"),
        (None, "de", "de"),
        (None, "ja", "ja"),
        (["de", "fr"], "fr", "fr"),
        (["de", "fr"], "ja", "en"),
        (["de", "fr"], "en", "en"),  # the default language is always served
        (["de", "fr"], None, "en"),
    ],
)
def test_the_language_served(
    languages: list[str] | None, requested: str | None, served: str
) -> None:
    markets = markets_of(declared(market("eu", "DE", languages=languages)))
    assert markets.default.language_for(requested) == served


BAD: list[tuple[str, Any, str]] = [
    ("unknown currency", declared(market("eu", "DE", currency="EUX")), "ISO 4217"),
    ("lower-case currency", declared(market("eu", "DE", currency="eur")), "ISO 4217"),
    ("unknown country", declared(market("eu", "XX")), "ISO 3166"),
    ("lower-case country", declared(market("eu", "de")), "ISO 3166"),
    (
        "a country in two markets",
        declared(market("eu", "DE", "CH"), market("ch", "CH", currency="CHF")),
        "country CH is in two markets: 'eu' and 'ch'",
    ),
    (
        "a fallback cycle",
        declared(market("eu", "DE", fallback="ch"), market("ch", "CH", fallback="eu")),
        "fallback cycle: eu -> ch -> eu",
    ),
    ("falling back to itself", declared(market("eu", "DE", fallback="eu")), "fallback cycle"),
    ("an unknown fallback", declared(market("eu", "DE", fallback="us")), "'us', not a market"),
    ("an unknown default", declared(market("eu", "DE"), default="us"), "'us' is not a market"),
    ("a market twice", declared(market("eu", "DE"), market("eu", "FR")), "declared twice"),
    ("no markets", declared(), "markets: List should have at least 1 item"),
    (
        "too many markets",
        declared(*(market(f"m{n}") for n in range(MAX_MARKETS + 1))),
        f"at most {MAX_MARKETS}",
    ),
    ("a malformed language", declared(market("eu", "DE", default_language="en--US")), "BCP 47"),
    (
        "a language @inContext cannot name",
        declared(market("eu", "DE", default_language="de-CH")),
        "LanguageCode",
    ),
    ("a served language not well-formed", declared(market("eu", "DE", languages=["x"])), "BCP 47"),
    ("an underscore tag", declared(market("eu", "DE", default_language="de_CH")), "BCP 47"),
    ("a market id with a dot", declared(market("e.u", "DE"), default="e.u"), "pattern"),
    ("a market id of 1,000 characters", declared(market("e" * 1000)), "pattern"),
    ("an unknown key", declared(market("eu", "DE", currencies=["EUR"])), "currencies"),
    (
        "no currency",
        {"default_market": "eu", "markets": [{"id": "eu", "countries": []}]},
        "currency",
    ),
    ("a number for a language", declared(market("eu", "DE", default_language=1)), "string"),
    ("a list, not a mapping", [market("eu", "DE")], "valid dictionary"),
    ("nothing", None, "valid dictionary"),
]


@pytest.mark.parametrize(("data", "message"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_a_bad_declaration_is_refused_with_its_fault(data: Any, message: str) -> None:
    with pytest.raises(MarketsError, match=message):
        markets_of(data)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("markets.yaml", b"markets: [", "not valid YAML"),
        ("markets.json", b"{", "not valid JSON"),
        ("markets.yaml", b"\xff\xfe", "not valid YAML"),
        ("markets.yaml", b"a: &x [*x]", "valid dictionary|markets"),
        ("markets.yaml", b"#" * (MAX_FILE_BYTES + 1), "larger than"),
        ("markets.yaml", b"!!python/object/apply:os.system ['true']", "not valid YAML"),
    ],
)
def test_a_bad_file_is_refused_naming_it(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(MarketsError, match=message) as refused:
        load_markets(path)
    assert str(path) in str(refused.value)


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(MarketsError, match="cannot read the markets file .*absent.yaml"):
        load_markets(tmp_path / "absent.yaml")


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("SHOPWINDOW_KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
    monkeypatch.setenv("SHOPWINDOW_MONGODB_URI", "mongodb://localhost:27017")
    return monkeypatch


@pytest.mark.parametrize("settings", [GatewaySettings, MaterializerSettings])
def test_every_role_reads_the_file_once_at_start(
    environment: pytest.MonkeyPatch,
    tmp_path: Path,
    settings: type[GatewaySettings] | type[MaterializerSettings],
) -> None:
    path = tmp_path / "markets.yaml"
    path.write_text(ISSUE_EXAMPLE)
    environment.setenv("SHOPWINDOW_MARKETS_FILE", str(path))
    loaded = load(settings)
    path.write_text("changed after start")
    assert loaded.markets.for_country("CH").id == "ch"


def test_the_role_stops_at_start_naming_the_variable_and_the_file(
    environment: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "markets.yaml"
    path.write_text(ISSUE_EXAMPLE.replace("CHF", "CHX"))
    environment.setenv("SHOPWINDOW_MARKETS_FILE", str(path))
    with pytest.raises(ConfigurationError, match=f"SHOPWINDOW_MARKETS_FILE: {path}: .*ISO 4217"):
        load(MaterializerSettings)
    assert main(["serve"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize(
    ("tag", "canonical"),
    [("de", "de"), ("DE-ch", "de-CH"), ("zh-hant-tw", "zh-Hant-TW"), ("iw", "he")],
)
def test_language_tags(tag: str, canonical: str) -> None:
    assert codes.language_tag(tag) == canonical


@pytest.mark.parametrize(
    "tag", ["", "x", "de_CH", "en--US", "toolongtag1", "de-" + "a" * 40, "\ud800", "d e", "é"]
)
def test_language_tags_that_are_not_well_formed(tag: str) -> None:
    with pytest.raises(ValueError, match="BCP 47"):
        codes.language_tag(tag)
