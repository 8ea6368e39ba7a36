"""Search in the viewer's language: translated names and descriptions, stemmed.

Every language the markets file names (each market's default language and those it
lists) for which tantivy ships a stemmer gets fields of its own: ``name_<language>``
and ``description_<language>``, holding the product's text in that language (its
translation, else the catalog's own text), analyzed as the shared fields are and then
stemmed, so "Laufschuhe" finds "Laufschuh". A viewer whose language has such fields
is matched against them, with the query's words stemmed alike; brand, category and
attribute values are the catalog's own words for everyone. The typo and prefix rules
apply to the stemmed words as to any.

Fields are per base language (``pt`` for ``pt-BR``): a row's text in ``pt`` is the
``pt`` translation, else the catalog's own. A language without a stemmer, or not named
in the markets file, searches the shared fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import tantivy

from shopwindow.markets import Markets

# The stemmers tantivy ships (Snowball's), by ISO 639-1 code.
STEMMERS = {
    "ar": "arabic",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "fi": "finnish",
    "fr": "french",
    "hu": "hungarian",
    "it": "italian",
    "nb": "norwegian",
    "nl": "dutch",
    "no": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
}
# The translated fields, and the shared field each stands in for.
TRANSLATED = ("name", "description")


def base_language(tag: str) -> str:
    """The language of a BCP 47 tag, lowercased (``pt`` for ``pt-BR``)."""
    return tag.split("-", 1)[0].lower()


def indexed_languages(markets: Markets) -> tuple[str, ...]:
    """The languages search gives fields of their own: those the markets file names,
    where a stemmer exists, in order."""
    named: set[str] = set()
    for market in markets.by_id.values():
        named.add(base_language(market.default_language))
        named.update(base_language(tag) for tag in market.languages or ())
    return tuple(sorted(language for language in named if language in STEMMERS))


def field_of(field: str, language: str) -> str:
    """The field holding ``field`` (``name``) in ``language``."""
    return f"{field}_{language}"


def tokenizer_of(language: str) -> str:
    """The name of ``language``'s analyzer in the index."""
    return f"shop_{language}"


def analyzer(language: str | None) -> tantivy.TextAnalyzer:
    """Words, without overlong ones, lowercased, stemmed in ``language`` (if any), then
    folded to ASCII: stemmers know their language's letters (``Häuser`` to ``haus``)."""
    builder = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
    )
    if language is not None:
        builder = builder.filter(tantivy.Filter.stemmer(STEMMERS[language]))
    return builder.filter(tantivy.Filter.ascii_fold()).build()


def localized(
    fields: Sequence[tuple[str, float]], language: str | None
) -> tuple[tuple[str, float, bool], ...]:
    """``fields`` as a viewer of ``language`` searches them: the translated ones in
    that language's fields, marked as taking the stemmed words."""
    return tuple(
        (field_of(field, language), weight, True)
        if language is not None and field in TRANSLATED
        else (field, weight, False)
        for field, weight in fields
    )


def searched_language(tag: str, indexed: Iterable[str]) -> str | None:
    """The language whose fields a viewer served in ``tag`` searches, if it has some."""
    language = base_language(tag)
    return language if language in set(indexed) else None
