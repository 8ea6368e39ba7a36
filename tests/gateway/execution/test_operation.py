"""An admitted operation is the checked one with its client's budget, field for field."""

from __future__ import annotations

from dataclasses import fields, replace

from graphql import OperationDefinitionNode, parse

from shopwindow.gateway.cost.budget import ThrottleStatus
from shopwindow.gateway.execution.localization import Localizer
from shopwindow.gateway.execution.operation import Operation
from shopwindow.markets import single_market


def test_admitted_keeps_every_field_and_sets_the_budget() -> None:
    # Built field by field for speed: a field added to Operation and forgotten there
    # would be dropped from every admitted operation. Every field gets a value unlike
    # its default but the plan (none without a schema), so that a dropped one shows.
    document = parse("query Page($id: ID!) @inContext(country: CH) { product(id: $id) { id } }")
    definition = document.definitions[0]
    assert isinstance(definition, OperationDefinitionNode)
    checked = Operation(
        document,
        definition,
        {"id": "p1"},
        "Page",
        7,
        "hash",
        persisted_id="persisted",
        plan=None,
        throttle=None,
        client=None,
        fragments={"F": definition},  # type: ignore[dict-item]
        counted={"x": 1},  # type: ignore[dict-item]
        localization=Localizer(single_market())(definition, None),
    )
    status = ThrottleStatus(maximum_available=10, currently_available=3, restore_rate=1)
    admitted = checked.admitted(status, "client-1")
    assert admitted == replace(checked, throttle=status, client="client-1")
    for each in fields(Operation):
        if each.name not in ("throttle", "client"):
            assert getattr(admitted, each.name) is getattr(checked, each.name), each.name
