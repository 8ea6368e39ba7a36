"""The demand-control directives a field or type declares: ``@cost`` and ``@listSize``.

They follow the IBM cost directive specification in the form Apollo Federation 2.9
imports (``weight: Int!``), so the subgraph SDL carries them to a router that enforces
them, and our own estimate (``gateway.cost.estimate``) reads the very same declarations::

    trending: list[Product] = strawberry.field(directives=[list_size(slicing=("first",))])

Defaults, when a field declares nothing: an object (or interface, union) costs 1, a
scalar or enum 0, and a list of unknown length ``DEFAULT_LIST_SIZE`` items.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from graphql import GraphQLField, GraphQLNamedType
from strawberry import UNSET
from strawberry.federation.schema_directives import Cost, ListSize

# What a router assumes of a list nothing sizes: a guess, so every list of objects in our
# own schema declares its size (a test checks).
DEFAULT_LIST_SIZE = 10
# The default caps of a lookup's ids and of a subscription's products: what a router
# assumes of lists sized by their length (the settings may lower or raise the caps).
MAX_IDS = 100
MAX_PRODUCTS_PER_SUBSCRIPTION = 50


def cost(weight: int) -> Cost:
    """``@cost(weight:)``: what each instance of the field or type costs."""
    return Cost(weight=weight)


def list_size(
    *,
    slicing: Iterable[str] = (),
    assumed: int | None = None,
    sized_fields: Iterable[str] = (),
    require_one: bool = True,
) -> ListSize:
    """``@listSize``: how many items a list field returns.

    Args:
        slicing: Arguments that give the size: an integer (``first``), or a list whose
            length it is (``ids``). With several, the largest given counts.
        assumed: The size when no slicing argument is given.
        sized_fields: Fields of the returned object the size applies to instead (a
            connection's ``edges``).
        require_one: Whether exactly one slicing argument must be given.
    """
    slicing = list(slicing)
    sized = list(sized_fields)
    return ListSize(
        assumed_size=assumed if assumed is not None else UNSET,
        slicing_arguments=slicing or UNSET,
        sized_fields=sized or UNSET,
        require_one_slicing_argument=require_one if slicing else UNSET,
    )


@dataclass(frozen=True, slots=True)
class Declared:
    """What a field's or type's directives declare."""

    weight: int | None = None
    slicing: tuple[str, ...] = ()
    assumed: int | None = None
    sized_fields: frozenset[str] = frozenset()
    has_list_size: bool = False


def declared_by(element: GraphQLField | GraphQLNamedType) -> Declared:
    """The ``@cost`` and ``@listSize`` a schema element declares (through Strawberry)."""
    definition = element.extensions.get("strawberry-definition")
    directives: Iterable[Any] = getattr(definition, "directives", None) or ()
    found = Declared()
    for directive in directives:
        if isinstance(directive, Cost):
            found = replace(found, weight=directive.weight)
        elif isinstance(directive, ListSize):
            found = replace(
                found,
                slicing=tuple(_given(directive.slicing_arguments) or ()),
                assumed=_given(directive.assumed_size),
                sized_fields=frozenset(_given(directive.sized_fields) or ()),
                has_list_size=True,
            )
    return found


def _given(value: Any) -> Any:
    return None if value is UNSET else value
