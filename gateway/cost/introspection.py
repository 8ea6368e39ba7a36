"""What introspection costs: it reads the schema, whose sizes are known.

The cost estimate sizes a list by its slicing argument or its declared size; the
introspection types (``__Schema``, ``__Type``, ``__Field``, ``__Directive``) declare
none, and the default size at every level would price the standard introspection
query at ten times what it returns. Their lists are sized instead by the mean length
each has in this schema, so that listing every type with its fields costs the number
of fields the schema has.
"""

from __future__ import annotations

from collections.abc import Callable
from math import ceil

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    is_abstract_type,
)


def introspection_sizes(schema: GraphQLSchema) -> dict[tuple[str, str], int]:
    """The mean length, at least 1, of each introspection list in ``schema``, over every
    type (a list a type does not have is ``null``: none), so that listing all types
    with their fields costs the number of fields the schema has; likewise arguments
    over every field."""
    named = list(schema.type_map.values())
    fields = [
        field
        for t in named
        if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)
        for field in t.fields.values()
    ]

    def mean(lengths: list[int]) -> int:
        return max(1, ceil(sum(lengths) / len(lengths))) if lengths else 1

    def per_type(length: Callable[[GraphQLNamedType], int]) -> int:
        return mean([length(t) for t in named])

    return {
        ("__Schema", "types"): len(named),
        ("__Schema", "directives"): len(schema.directives),
        ("__Type", "fields"): per_type(
            lambda t: (
                len(t.fields) if isinstance(t, GraphQLObjectType | GraphQLInterfaceType) else 0
            )
        ),
        ("__Type", "interfaces"): per_type(
            lambda t: (
                len(t.interfaces) if isinstance(t, GraphQLObjectType | GraphQLInterfaceType) else 0
            )
        ),
        ("__Type", "possibleTypes"): per_type(
            lambda t: len(schema.get_possible_types(t)) if is_abstract_type(t) else 0
        ),
        ("__Type", "enumValues"): per_type(
            lambda t: len(t.values) if isinstance(t, GraphQLEnumType) else 0
        ),
        ("__Type", "inputFields"): per_type(
            lambda t: len(t.fields) if isinstance(t, GraphQLInputObjectType) else 0
        ),
        ("__Field", "args"): mean([len(field.args) for field in fields]),
        ("__Directive", "args"): mean([len(d.args) for d in schema.directives]),
    }
