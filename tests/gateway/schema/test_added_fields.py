"""Fields added to existing types: which are served like attributes, and name clashes."""

from __future__ import annotations

import pytest
import strawberry
from strawberry.types.base import get_object_definition

from shopwindow.gateway.execution.context import Info
from shopwindow.gateway.schema.added_fields import AddedFields, GetterField


@strawberry.type
class Thing:
    id: strawberry.ID
    size: int


def _double(root: Thing) -> int:
    return root.size * 2


def _with_info(root: Thing, info: Info) -> int:
    return root.size


def _with_argument(root: Thing, times: int) -> int:
    return root.size * times


async def _later(root: Thing) -> int:
    return root.size


@strawberry.type
class Added:
    double: int = strawberry.field(resolver=_double)
    with_info: int = strawberry.field(resolver=_with_info)
    with_argument: int = strawberry.field(resolver=_with_argument)
    later: int = strawberry.field(resolver=_later)


def test_fields_computed_from_the_parent_alone_are_served_like_attributes() -> None:
    fields = AddedFields({Thing: [Added]}).fields_of(get_object_definition(Thing, strict=True))
    by_name = {field.python_name: field for field in fields}
    assert [field.python_name for field in fields] == [
        "id",
        "double",
        "with_info",
        "with_argument",
        "later",
        "size",
    ]
    double = by_name["double"]
    assert isinstance(double, GetterField) and double.is_basic_field
    assert double.get_result(Thing(id=strawberry.ID("t"), size=3), None, [], {}) == 6
    for name in ("with_info", "with_argument", "later"):
        assert not isinstance(by_name[name], GetterField), name


def test_an_added_field_may_not_take_a_name() -> None:
    @strawberry.type
    class Clash:
        size: int = strawberry.field(resolver=_double)

    with pytest.raises(ValueError, match="Thing.size is declared twice"):
        AddedFields({Thing: [Clash]}).fields_of(get_object_definition(Thing, strict=True))


def test_a_type_nobody_extends_keeps_its_fields() -> None:
    definition = get_object_definition(Thing, strict=True)
    assert AddedFields({}).fields_of(definition) is definition.fields
