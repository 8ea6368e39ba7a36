"""Search in the viewer's language: translated names and descriptions, stemmed in
that language, with the typo and prefix rules of every search."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shopwindow.gateway.search.engine import SearchRequest
from shopwindow.gateway.search.languages import (
    analyzer,
    base_language,
    indexed_languages,
    searched_language,
)
from shopwindow.gateway.search.rows import Locales, row_of
from shopwindow.gateway.search.service import SearchLimits, SearchService
from shopwindow.gateway.search.tantivy_index import TantivyIndex
from shopwindow.markets import markets_of
from shopwindow.materializer.fold import FoldSettings, fold
from shopwindow.sale_product import read_sale_product
from tests import kinds
from tests.gateway.execution.test_localization import MARKETS
from tests.gateway.search.conftest import indexed
from tests.gateway.search.test_tantivy_index import row
from tests.materializer.conftest import SourcedFactory, catalog
from tests.materializer.test_market_prices import NOW

CATALOG = [
    row("boot", "Hiking boot", texts={"de": ("Wanderstiefel", "Wasserdichte Stiefel")}),
    row("runner", "Running shoe", texts={
        "de": ("Laufschuhe", "Leichte Schuhe für Läufer"),
        "fr": ("Chaussures de course", "Légères"),
    }),
    # Not translated: every language searches the catalog's own words.
    row("sock", "Wool socks", description="fresh berries"),
]  # fmt: skip


@pytest.fixture(scope="module")
def index() -> Iterator[TantivyIndex]:
    with indexed(CATALOG, indexed_languages=("de", "en", "fr")) as made:
        yield made


def found(index: TantivyIndex, text: str, tag: str | None) -> set[str]:
    service = SearchService(index, SearchLimits(), ("de", "en", "fr"))
    words = service.words(text)
    language, stemmed = service.stemmed(text, tag) if tag else (None, ())
    request = SearchRequest(words=words, language=language, stemmed=stemmed, limit=50)
    return set(index.search(request).ids)


@pytest.mark.parametrize(
    ("text", "tag", "expected"),
    [
        ("Laufschuh", "de", {"runner"}),  # stemmed: Laufschuhe, Laufschuh
        ("laufschuhe", "de-CH", {"runner"}),  # a regional tag searches its language
        ("Laufschuh", None, set()),  # the catalog's own words are English
        ("Laufschuh", "it", set()),  # no fields in Italian: the shared ones
        ("Schuh", "de", {"runner"}),  # in the description: "Schuhe"
        ("Laufschue", "de", {"runner"}),  # one typo in a long word, after stemming
        ("Laufsc", "de", {"runner"}),  # the last word as typed so far
        ("Stiefel wasserdicht", "de", {"boot"}),  # every word, across fields
        ("boot", "de", set()),  # translated: the German name replaces the English one
        ("wool", "de", {"sock"}),  # untranslated: its own words, in every language
        ("chaussure", "fr", {"runner"}),
        ("berry fresh", "en", {"sock"}),  # English stemming: berries, berry
        ("berry fresh", None, set()),  # the shared fields are not stemmed
        ("Acme", "de", {"boot", "runner", "sock"}),  # the brand is the same everywhere
    ],
)
def test_words_match_in_the_viewers_language(
    index: TantivyIndex, text: str, tag: str | None, expected: set[str]
) -> None:
    assert found(index, text, tag) == expected


def test_the_languages_indexed_are_the_markets_where_a_stemmer_exists() -> None:
    markets = markets_of(
        {
            **MARKETS,
            "markets": [
                *MARKETS["markets"],
                {
                    "id": "jp",
                    "countries": ["JP"],
                    "currency": "JPY",
                    "default_language": "ja",
                    "languages": ["ja", "pt-BR"],
                },
            ],
        }
    )
    # ja has no stemmer in tantivy: its viewers search the shared fields.
    assert indexed_languages(markets) == ("de", "en", "fr", "it", "pt")
    assert searched_language("pt-BR", ("pt",)) == "pt"
    assert searched_language("ja", ("pt",)) is None
    assert base_language("zh-Hant-TW") == "zh"


def test_the_stemmer_folds_after_stemming() -> None:
    assert analyzer("de").analyze("Häuser Größe") == ["haus", "gross"]
    assert analyzer(None).analyze("Häuser Größe") == ["hauser", "grosse"]


def test_rows_carry_each_languages_text_field_by_field(sourced: SourcedFactory) -> None:
    translations = {"de": {"name": "Laufschuhe"}, "fr": {"description": "Légères"}}
    listing = catalog(name="Running shoe", description="Light", translations=translations)
    doc = fold(None, "abc", [sourced(kinds.CATALOG, listing)], FoldSettings()).document
    assert doc is not None
    made = row_of(read_sale_product(doc), NOW, Locales(languages=("de", "fr", "it")))
    assert made is not None
    # Each field on its own: the language's translation, else the catalog's own text.
    assert dict(made.texts) == {
        "de": ("Laufschuhe", "Light"),
        "fr": ("Running shoe", "Légères"),
        "it": ("Running shoe", "Light"),
    }
    plain = fold(None, "abc", [sourced(kinds.CATALOG, catalog())], FoldSettings()).document
    assert plain is not None
    untranslated = row_of(read_sale_product(plain), NOW, Locales(languages=("de",)))
    assert untranslated is not None and dict(untranslated.texts) == {}
