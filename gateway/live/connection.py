"""The live subscriptions of one WebSocket connection, and how each protocol frames them.

``LiveConnection`` starts (after ``LiveOperations.check``), stops and closes the
subscriptions of one connection; its subscribers' frames go out through the
connection's ``Outbox``. With ``after``, a subscription waits for the positions, then
joins its groups held and sends its own first value, read fresh, before the group's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import GraphQLError

from shopwindow.gateway.errors import GatewayError, UserInputError
from shopwindow.gateway.execution.context import WebSocketConnection
from shopwindow.gateway.execution.operation import OperationRefused
from shopwindow.gateway.live.fanout import FanOut, GroupSpec, Outbox, Subscriber
from shopwindow.gateway.live.operations import LiveOperations
from shopwindow.gateway.schema.positions import wait_after
from shopwindow.sale_product import SaleProduct


@dataclass(frozen=True, slots=True)
class Framing:
    """How one protocol frames an operation's messages."""

    data: str
    errors_as_list: bool
    complete_on_stop: bool

    def prefix(self, operation_id: str) -> str:
        """The data frame up to its payload."""
        return f'{{"type":"{self.data}","id":{_json(operation_id)},"payload":'

    def complete(self, operation_id: str) -> str:
        """The complete frame."""
        return f'{{"type":"complete","id":{_json(operation_id)}}}'

    def error(self, operation_id: str, errors: list[GraphQLError]) -> str:
        """The error frame."""
        formatted = [error.formatted for error in errors]
        payload = formatted if self.errors_as_list else formatted[0]
        return orjson.dumps({"type": "error", "id": operation_id, "payload": payload}).decode()


FRAMINGS = {
    "graphql-transport-ws": Framing("next", errors_as_list=True, complete_on_stop=False),
    "graphql-ws": Framing("data", errors_as_list=False, complete_on_stop=True),
}


def _json(text: str) -> str:
    return orjson.dumps(text).decode()


def open_connection(
    operations: LiveOperations,
    protocol: str,
    send: Callable[[str], Awaitable[None]],
    state: WebSocketConnection,
) -> LiveConnection:
    """The live side of one WebSocket connection speaking ``protocol``."""
    assert operations.fanout is not None, "set the fan-out before serving"
    return LiveConnection(operations, operations.fanout, FRAMINGS[protocol], Outbox(send), state)


class LiveConnection:
    """The live subscriptions of one WebSocket connection."""

    __slots__ = (
        "__weakref__",
        "_fanout",
        "_framing",
        "_operations",
        "_outbox",
        "_state",
        "_subscribers",
        "_waiting",
    )

    def __init__(
        self,
        operations: LiveOperations,
        fanout: FanOut,
        framing: Framing,
        outbox: Outbox,
        state: WebSocketConnection,
    ) -> None:
        self._operations = operations
        self._fanout = fanout
        self._framing = framing
        self._outbox = outbox
        self._state = state
        self._subscribers: dict[str, Subscriber] = {}
        self._waiting: dict[str, asyncio.Task[None]] = {}

    def start(self, operation_id: str, query: str, payload: Mapping[str, Any]) -> str | bool:
        """Start a subscription if it is a live one.

        Returns:
            ``False`` when it is not (Strawberry runs it); ``True`` when started; a frame
            to answer with when it may not run.
        """
        framing = self._framing
        try:
            checked = self._operations.check(query, payload, self._state)
            if checked is None:
                return False
            spec, product_ids, after = checked
            self._check_limits(product_ids)
        except OperationRefused as refused:  # Counted by the policy that refused it.
            return framing.error(operation_id, refused.graphql_errors())
        except GatewayError as error:  # The live field's own bounds, counted when masked.
            return framing.error(operation_id, self._operations.error_of(error, ""))
        subscriber = Subscriber(self, self._outbox, framing.prefix(operation_id))
        self._subscribers[operation_id] = subscriber
        self._state.active_subscriptions += 1
        if after:
            self._waiting[operation_id] = asyncio.get_running_loop().create_task(
                self._join_after(operation_id, subscriber, spec, product_ids, after)
            )
        else:
            self._fanout.join(subscriber, spec, product_ids, read=True)
        return True

    def _check_limits(self, product_ids: list[str]) -> None:
        limits = self._operations.limits
        if not product_ids or len(product_ids) > limits.max_products_per_subscription:
            raise UserInputError(
                f"Give between 1 and {limits.max_products_per_subscription} product ids."
            )
        if self._state.active_subscriptions >= limits.max_subscriptions_per_connection:
            raise UserInputError(
                f"At most {limits.max_subscriptions_per_connection} subscriptions per connection."
            )

    async def _join_after(
        self,
        operation_id: str,
        subscriber: Subscriber,
        spec: GroupSpec,
        product_ids: list[str],
        after: list[tuple[str, int, int]],
    ) -> None:
        # A client that just caused a change gets a first value that includes it:
        # join once the positions are applied, then read fresh.
        context = self._operations.context(self._state.viewer)
        try:
            await wait_after(context, after)
            # Held: the group sends this subscriber nothing until its own first value,
            # which carries what the wait found (extensions.consistency), is out.
            self._fanout.join(subscriber, spec, product_ids, read=False, held=True)
            docs = await context.products.load_many(product_ids)
        except Exception as error:
            # Ends this subscription alone, with its error, masked and logged.
            self._waiting.pop(operation_id, None)  # Not to be cancelled by stop().
            self.stop(operation_id, answer=False)
            errors = self._operations.error_of(error, context.request_id)
            self._outbox.put(subscriber, self._framing.error(operation_id, errors))
            return
        self._waiting.pop(operation_id, None)
        for product_id, doc in zip(product_ids, docs, strict=True):
            found = doc if isinstance(doc, SaleProduct) else None
            first = (
                None if found is None else await self._operations.execute_in(context, spec, found)
            )
            self._fanout.release(subscriber, product_id, found, first)

    def stop(self, operation_id: str, answer: bool = True) -> bool:
        """Stop a live subscription the client ends; ``False`` if it is not one."""
        subscriber = self._subscribers.get(operation_id)
        if subscriber is None:
            return False
        waiting = self._waiting.pop(operation_id, None)
        if waiting is not None:
            waiting.cancel()
        self._fanout.leave(subscriber)
        self._forget(operation_id)
        if answer and self._framing.complete_on_stop:
            self._outbox.put(subscriber, self._framing.complete(operation_id))
        return True

    def _forget(self, operation_id: str) -> None:
        if self._subscribers.pop(operation_id, None) is not None:
            self._state.active_subscriptions -= 1

    def complete_frame(self, subscriber: Subscriber) -> str:
        """The complete frame of ``subscriber``."""
        return self._framing.complete(self._operation_id(subscriber))

    def ended(self, subscriber: Subscriber) -> None:
        """The fan-out completed ``subscriber``."""
        self._forget(self._operation_id(subscriber))

    def _operation_id(self, subscriber: Subscriber) -> str:
        # Rare (a product went): a scan beats keeping the id on every subscriber.
        return next(i for i, s in self._subscribers.items() if s is subscriber)

    async def close(self) -> None:
        """The connection ended: drop its subscriptions."""
        waiting = list(self._waiting.values())
        for operation_id in list(self._subscribers):
            self.stop(operation_id, answer=False)  # Cancels what waits for ``after``.
        for task in waiting:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._outbox.close()
