"""Each fragment of a document walked once, for the rules that measure a document.

A rule that follows every spread into its fragment walks a fragment once per path to
it: a document of fragments that each spread the next twice is 2^n walks, and 2,000
tokens hold a chain of about 200. So a rule summarises each fragment once, from the
summaries of the fragments it spreads, in an order where those come first, and a
spread reads its fragment's summary. Summaries are computed without recursion across
fragments (a chain may be as long as the token limit allows); within one selection
set, recursion follows the nesting, which the parser caps at about 200 levels.

A spread of an unknown fragment, or one that closes a cycle, reads ``None``: those
are other rules' errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)

Summary = TypeVar("Summary")


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    """The document's fragments by name."""
    return {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }


def summarise_fragments(
    fragments: Mapping[str, FragmentDefinitionNode],
    summarise: Callable[[SelectionSetNode, Callable[[str], Summary | None]], Summary],
) -> dict[str, Summary]:
    """Every fragment's summary, each computed once by ``summarise`` from its selection
    set and the summaries of the fragments it spreads.

    Args:
        fragments: The document's fragments by name.
        summarise: A selection set's summary, given a lookup of fragment summaries.
    """
    done: dict[str, Summary] = {}
    for root in fragments:
        if root in done:
            continue
        on_path = {root}
        stack: list[tuple[str, Iterator[str]]] = [(root, _spreads(fragments[root]))]
        while stack:
            name, pending = stack[-1]
            spread = next(pending, None)
            if spread is None:
                stack.pop()
                on_path.discard(name)
                done[name] = summarise(fragments[name].selection_set, done.get)
            elif spread in fragments and spread not in done and spread not in on_path:
                on_path.add(spread)
                stack.append((spread, _spreads(fragments[spread])))
    return done


def _spreads(fragment: FragmentDefinitionNode) -> Iterator[str]:
    # The names of the fragments spread anywhere in ``fragment``.
    sets = [fragment.selection_set]
    while sets:
        for selection in sets.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                yield selection.name.value
            elif isinstance(selection, FieldNode | InlineFragmentNode):
                if selection.selection_set is not None:
                    sets.append(selection.selection_set)
