"""Subscriptions over WebSocket, served by the fan-out: checks, grouping and execution.

The WebSocket guard offers every ``subscribe`` (graphql-transport-ws) or ``start``
(graphql-ws) frame here first. A subscription to a field of ``LIVE_FIELDS`` is checked
by the same ``OperationPolicy`` as every other operation (parsing, validation, limits,
cost), its arguments coerced by graphql-core, and it joins the fan-out's groups; its
events are executed by the policy with a fresh context per execution, errors masked.
Anything else goes on to Strawberry's protocol handlers.

Groups share one execution, so a selection sees the viewer only through its segment,
as the response cache assumes too.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationType,
    VariableNode,
    Visitor,
    visit,
)
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.language import SKIP

from shopwindow.gateway.execution.auth import Viewer
from shopwindow.gateway.execution.context import (
    ContextFactory,
    GatewayContext,
    ResolverLimits,
    WebSocketConnection,
    new_request_id,
)
from shopwindow.gateway.execution.operation import Operation
from shopwindow.gateway.execution.policy import OperationPolicy
from shopwindow.gateway.live.fanout import FanOut, GroupSpec
from shopwindow.gateway.schema.subscriptions import LiveFieldSpec
from shopwindow.gateway.schema.variants import check_sku
from shopwindow.sale_product import SaleProduct

log = logging.getLogger(__name__)

_TIMEOUT = GraphQLError("The request took too long.", extensions={"code": "TIMEOUT"})
_ROOT_ONLY_CACHE = 1024


class LiveOperations:
    """Serves the subscriptions of ``fields`` through the fan-out.

    Args:
        schema: The executable schema.
        policy: The operation policy every transport shares.
        context_factory: A fresh context per execution.
        fields: The live fields, by GraphQL name.
        limits: Subscriptions per connection and products per subscription.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        policy: OperationPolicy,
        context_factory: ContextFactory,
        fields: Mapping[str, LiveFieldSpec],
        limits: ResolverLimits,
    ) -> None:
        self._schema = schema
        self._policy = policy
        self._context_factory = context_factory
        self._fields = fields
        self.limits = limits
        self._root_only: OrderedDict[tuple[str, str | None], frozenset[str]] = OrderedDict()
        self.fanout: FanOut | None = None

    def context(self, viewer: Viewer) -> GatewayContext:
        """A fresh context for ``viewer``, e.g. to wait for ``after`` and read fresh."""
        return self._context_factory(viewer, new_request_id(), None)

    def error_of(self, error: Exception, request_id: str) -> list[GraphQLError]:
        """``error`` as the client sees it, masked like every other: a client's mistake
        says what it was; anything else is an internal error, logged with
        ``request_id``."""
        located = GraphQLError(str(error), original_error=error)
        return list(self._policy.masked(ExecutionResult(None, [located]), request_id).errors or ())

    async def execute(
        self, spec: GroupSpec, run_id: str, doc: SaleProduct | None, at: datetime
    ) -> str:
        """A group's payload for ``doc`` (``None``: the product is gone) at the prices
        in effect at ``at``, serialized."""
        context = self._context_factory(Viewer(segment=spec.segment), run_id, None)
        context.prices_at = at
        return await self.execute_in(context, spec, doc)

    async def execute_in(
        self, context: GatewayContext, spec: GroupSpec, doc: SaleProduct | None
    ) -> str:
        """``execute`` with a given context (one that waited for ``after``)."""
        field: LiveFieldSpec = spec.field  # type: ignore[assignment]
        operation: Operation = spec.operation
        try:
            root = None
            context.localization = operation.localization
            if doc is not None:
                context.saw(doc)
                root = field.event(doc, context, spec.sku)
            result = await self._policy.execute_event(operation, context, root)
        except TimeoutError:
            result = ExecutionResult(None, [_TIMEOUT])
        except Exception as error:
            located = GraphQLError(str(error), original_error=error)
            result = self._policy.masked(ExecutionResult(None, [located]), context.request_id)
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [error.formatted for error in result.errors]
        payload["extensions"] = self._policy.result_extensions(operation, context, result.data)
        return orjson.dumps(payload).decode()

    def check(
        self, query: str, payload: Mapping[str, Any], connection: WebSocketConnection
    ) -> tuple[GroupSpec, list[str], list[tuple[str, int, int]]] | None:
        """The group, products and ``after`` positions of a live subscription; ``None``
        for any other operation.

        Raises:
            OperationRefused: When the operation may not run.
            UserInputError: When its arguments are out of bounds.
        """
        variables = payload.get("variables")
        name = payload.get("operationName")
        operation = self._policy.check(query, variables, name)
        definition = operation.definition
        if definition.operation is not OperationType.SUBSCRIPTION:
            return None
        root = self._root_field(operation)
        if root is None:
            return None
        field_name, node = root
        field = self._fields.get(field_name)
        subscription_type = self._schema.subscription_type
        if field is None or subscription_type is None:
            return None
        coerced = get_variable_values(
            self._schema, definition.variable_definitions or (), variables or {}
        )
        if isinstance(coerced, list):
            raise self._policy.refuse(coerced, "BAD_USER_INPUT")
        try:
            arguments = get_argument_values(subscription_type.fields[field_name], node, coerced)
        except GraphQLError as error:
            raise self._policy.refuse([error], "BAD_USER_INPUT") from None
        ids = arguments[field.ids_argument]
        sku = arguments.get("sku")
        if sku is not None:
            check_sku(sku)
        product_ids = [str(i) for i in (ids if isinstance(ids, list) else [ids])]
        after = [(p["topic"], p["partition"], p["offset"]) for p in arguments.get("after") or ()]
        kept = {
            key: value
            for key, value in (variables or {}).items()
            if key not in self._root_only_variables(query, name, operation, node)
        }
        viewer = connection.viewer
        identity = (
            query,
            name,
            # Text, not bytes: orjson's bytes keep their whole first buffer (4 KiB).
            orjson.dumps(kept, option=orjson.OPT_SORT_KEYS, default=str).decode() if kept else "",
            operation.cost,
            viewer.segment,
            # An argument of the root field, like the product ids, yet the payload
            # depends on it: groups of one product and two variants stay apart.
            sku,
        )
        # Spent once, when the subscription starts. The admitted copy stays out of the
        # group: its payloads are shared, and one client's budget is not another's news.
        self._policy.admit(operation, connection.budget_key)
        spec = GroupSpec(
            field, identity, viewer.segment, operation, sku, operation.localization.price_order
        )
        return spec, product_ids, after

    def _root_field(self, operation: Operation) -> tuple[str, FieldNode] | None:
        # Validation leaves a subscription exactly one root field, maybe in fragments.
        fragments = {
            d.name.value: d
            for d in operation.document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        found: list[FieldNode] = []
        pending = list(operation.definition.selection_set.selections)
        while pending:
            selection = pending.pop()
            if isinstance(selection, FieldNode):
                found.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                pending.extend(selection.selection_set.selections)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    pending.extend(fragment.selection_set.selections)
        if len({node.name.value for node in found}) != 1:
            return None
        return found[0].name.value, found[0]

    def _root_only_variables(
        self, query: str, name: str | None, operation: Operation, root: FieldNode
    ) -> frozenset[str]:
        # Variables used only in the live field's own arguments (the product ids,
        # `after`) do not change the payload: subscribers differing in them share it.
        key = (query, name)
        found = self._root_only.get(key)
        if found is None:
            everywhere = _variable_uses(operation.document)
            in_root = _variable_uses(root.arguments)
            found = frozenset(v for v, n in in_root.items() if everywhere.get(v) == n)
            self._root_only[key] = found
            if len(self._root_only) > _ROOT_ONLY_CACHE:
                self._root_only.popitem(last=False)
        else:
            self._root_only.move_to_end(key)
        return found


def _variable_uses(node: Any) -> dict[str, int]:
    counts: dict[str, int] = {}

    class Count(Visitor):
        def enter_variable_definition(self, *_: Any) -> Any:
            return SKIP  # Declarations are not uses.

        def enter_variable(self, variable: VariableNode, *_: Any) -> None:
            counts[variable.name.value] = counts.get(variable.name.value, 0) + 1

    for part in node if isinstance(node, tuple | list) else (node,):
        visit(part, Count())
    return counts
