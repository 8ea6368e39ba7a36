"""The search index as resolvers use it: checked input in, work off the event loop.

Everything a client sends is bounded here before the engine sees it: the query's length
and words, the depth of paging, the size of each filter. Engine calls run in worker
threads; a failure inside the engine (tantivy reports some as panics, which are not
``Exception``s) becomes an ordinary error, masked for the client like any other.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from shopwindow.gateway.errors import GatewayError, UserInputError
from shopwindow.gateway.search import languages
from shopwindow.gateway.search.engine import (
    Facets,
    Filters,
    SearchIndex,
    SearchPage,
    SearchRequest,
)
from shopwindow.gateway.search.variant_terms import MAX_COMBINATIONS, combinations

T = TypeVar("T")
_CURSOR_PREFIX = "sws1:"
MAX_FILTER_VALUES = 100
MAX_VALUE_CHARS = 256


class SearchFailed(GatewayError):
    """The engine failed on a request; masked as ``INTERNAL``, never shown."""


@dataclass(frozen=True, slots=True)
class SearchLimits:
    """Bounds on what a client may ask of the index."""

    max_query_chars: int = 256
    max_words: int = 12
    max_offset: int = 10_000
    max_page_size: int = 100
    facet_values: int = 50
    price_ranges: tuple[Decimal, ...] = (Decimal(10), Decimal(50), Decimal(100))


def encode_position(position: int) -> str:
    """The cursor of the result at ``position`` (from 0)."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{position}".encode()).decode()


def offset_after(cursor: str | None) -> int:
    """Where a page after ``cursor`` starts.

    Raises:
        UserInputError: When the cursor was not made by ``encode_position``.
    """
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise UserInputError("Invalid cursor.") from None
    number = text.removeprefix(_CURSOR_PREFIX)
    if number == text or not (number.isascii() and number.isdigit()) or len(number) > 9:
        raise UserInputError("Invalid cursor.")
    return int(number) + 1


def check_filters(filters: Filters) -> None:
    """Refuse filters no sane client sends.

    Raises:
        UserInputError: On too many values, values too long, non-finite or inverted
            price bounds, an option named twice or without values, or options whose
            values combine in more ways than the index looks up.
    """
    values = [
        *filters.brands,
        *(v for a in filters.attributes for v in (a.name, *a.values)),
        *(v for o in filters.options for v in (o.name, *o.values)),
    ]
    if filters.category is not None:
        values.append(filters.category)
    if len(filters.brands) > MAX_FILTER_VALUES or len(filters.attributes) > MAX_FILTER_VALUES:
        raise UserInputError(f"At most {MAX_FILTER_VALUES} values per filter.")
    if any(len(a.values) > MAX_FILTER_VALUES for a in filters.attributes):
        raise UserInputError(f"At most {MAX_FILTER_VALUES} values per attribute.")
    names = [option.name for option in filters.options]
    if len(set(names)) != len(names):
        raise UserInputError("An option is named twice in the options filter.")
    if any(not option.values for option in filters.options):
        raise UserInputError("An option filter needs at least one value.")
    if combinations(filters.options) > MAX_COMBINATIONS:
        raise UserInputError(
            f"The options filter allows more than {MAX_COMBINATIONS} combinations of values."
        )
    if any(len(v) > MAX_VALUE_CHARS for v in values):
        raise UserInputError(f"Filter values are at most {MAX_VALUE_CHARS} characters.")
    bounds = [b for b in (filters.price_min, filters.price_max) if b is not None]
    if any(not b.is_finite() for b in bounds):
        raise UserInputError("Price bounds must be finite numbers.")
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        raise UserInputError("priceMin is above priceMax.")


class SearchService:
    """Searches one index on behalf of resolvers.

    Args:
        index: The replica's index.
        limits: Bounds on requests.
        indexed_languages: The languages the index has fields in (``languages``).
    """

    def __init__(
        self, index: SearchIndex, limits: SearchLimits, indexed_languages: Sequence[str] = ()
    ) -> None:
        self.index = index
        self.limits = limits
        self._analyzer = languages.analyzer(None)
        self._stemmers = {language: languages.analyzer(language) for language in indexed_languages}

    def stemmed(self, text: str | None, tag: str) -> tuple[str | None, tuple[str, ...]]:
        """The language whose fields a viewer served in ``tag`` searches (``None``: the
        shared ones), and the query's words stemmed in it. Call after ``words``, which
        bounds the text."""
        language = languages.searched_language(tag, self._stemmers)
        if language is None or not text:
            return None, ()
        return language, tuple(self._stemmers[language].analyze(text))

    def words(self, text: str | None) -> tuple[str, ...]:
        """The words of a query as the index has them.

        Raises:
            UserInputError: When the query is longer than allowed or has too many words.
        """
        if not text:
            return ()
        if len(text) > self.limits.max_query_chars:
            raise UserInputError(f"The query is longer than {self.limits.max_query_chars}.")
        words = tuple(self._analyzer.analyze(text))
        if len(words) > self.limits.max_words:
            raise UserInputError(f"The query has more than {self.limits.max_words} words.")
        return words

    def page(self, first: int, after: str | None) -> tuple[int, int]:
        """``(offset, limit)`` of a page.

        Raises:
            UserInputError: When ``first`` or the depth is out of bounds.
        """
        cap = self.limits.max_page_size
        if not 0 <= first <= cap:
            raise UserInputError(f"'first' must be between 0 and {cap}.")
        offset = offset_after(after)
        if offset > self.limits.max_offset:
            raise UserInputError(f"Results beyond {self.limits.max_offset} are not paged to.")
        return offset, first

    async def search(self, request: SearchRequest) -> SearchPage:
        """The page ``request`` asks for."""
        check_filters(request.filters)
        return await self._run(self.index.search, request)

    async def facets(self, request: SearchRequest) -> Facets:
        """Disjunctive facet counts of ``request``."""
        check_filters(request.filters)
        return await self._run(
            self.index.facets, request, self.limits.price_ranges, self.limits.facet_values
        )

    async def suggest(self, prefix: str, first: int) -> list[str]:
        """Products for a search box's dropdown."""
        words = self.words(prefix)
        if not words:
            return []
        return await self._run(self.index.suggest, words, self._limit(first))

    async def trending(self, category: str | None, first: int) -> list[str]:
        """The hottest products."""
        if category is not None and len(category) > MAX_VALUE_CHARS:
            raise UserInputError(f"Filter values are at most {MAX_VALUE_CHARS} characters.")
        return await self._run(self.index.trending, category, self._limit(first))

    def _limit(self, first: int) -> int:
        return self.page(first, None)[1]

    @staticmethod
    async def _run(call: Callable[..., T], *args: object) -> T:
        def guarded() -> T:
            try:
                return call(*args)
            except Exception:
                raise
            except BaseException as error:
                # pyo3 turns Rust panics into PanicException, a BaseException.
                if type(error).__name__ == "PanicException":
                    raise SearchFailed(str(error)) from None
                raise

        return await asyncio.to_thread(guarded)


def unique(values: Sequence[str] | None) -> tuple[str, ...]:
    """Filter values without repeats, in order."""
    return tuple(dict.fromkeys(values or ()))
