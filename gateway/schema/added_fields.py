"""Fields that sources and extensions add to existing types, such as ``Product.name``.

Strawberry asks the schema for each type's fields while it builds (``get_fields``);
``AddedFields`` answers with the type's own fields and those declared for it. A field
whose resolver only reads its parent (``def name(root: Product) -> str``) is served as
Strawberry serves a plain attribute: no ``Info``, no argument handling, just the call.
That keeps a product page of twenty such fields close to the cost of attributes.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField


class GetterField(StrawberryField):
    """A field computed from its parent alone, resolved like an attribute."""

    getter: Callable[[Any], Any]

    @property
    def is_basic_field(self) -> bool:
        return True

    def get_result(self, source: Any, info: Any, args: list[Any], kwargs: Any) -> Any:
        return self.getter(source)


def _as_getter(field: StrawberryField) -> StrawberryField:
    resolver = field.base_resolver
    if resolver is None or resolver.is_async or field.extensions or field.arguments:
        return field
    function = resolver.wrapped_func
    if not callable(function) or list(inspect.signature(function).parameters) != ["root"]:
        return field
    getter = copy.copy(field)
    getter.__class__ = GetterField
    getter.getter = function  # type: ignore[attr-defined]
    return getter


class AddedFields:
    """The fields added to each type, by the type they extend.

    Args:
        added: For each extended strawberry type, the strawberry types whose fields
            join it.
    """

    def __init__(self, added: Mapping[type, Sequence[type]]) -> None:
        self._added = added
        self._fields: dict[type, list[StrawberryField]] = {}

    def fields_of(self, type_definition: StrawberryObjectDefinition) -> list[StrawberryField]:
        """The type's own fields, with the added ones after its first (its identity).

        Raises:
            ValueError: When an added field's name is taken.
        """
        origin = type_definition.origin
        if origin not in self._added:
            return type_definition.fields
        if origin not in self._fields:
            own = type_definition.fields
            names = {field.python_name for field in own}
            extras = []
            for fields_type in self._added[origin]:
                for field in fields_type.__strawberry_definition__.fields:  # type: ignore[attr-defined]
                    if field.python_name in names:
                        raise ValueError(
                            f"{type_definition.name}.{field.name} is declared twice; "
                            "a source or extension may only add new fields"
                        )
                    names.add(field.python_name)
                    extras.append(_as_getter(field))
            self._fields[origin] = [*own[:1], *extras, *own[1:]]
        return self._fields[origin]
