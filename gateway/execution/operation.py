"""An operation that passed every check, and the refusals of one that did not.

``OperationRefused`` is the ``GatewayError`` of an operation that cannot run
(unparsable, invalid, unknown, over a limit or over its client's budget); it carries
the client's errors, each with the refusal's code, so every transport shows the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import DocumentNode, FragmentDefinitionNode, GraphQLError, OperationDefinitionNode

from shopwindow.gateway.cost.actual import Collected
from shopwindow.gateway.cost.budget import ThrottleStatus
from shopwindow.gateway.errors import GatewayError
from shopwindow.gateway.execution.localization import DEFAULT, Localization
from shopwindow.gateway.execution.plan import ExecutionPlan
from shopwindow.gateway.metrics import GatewayMetrics

RATE_LIMITED = "RATE_LIMITED"


class OperationRefused(GatewayError):
    """An operation that cannot run: unparsable, invalid, unknown or over a limit.

    Args:
        errors: What is wrong, for the client.
        code: The error code of the whole refusal.
    """

    def __init__(self, errors: list[GraphQLError], code: str) -> None:
        super().__init__(errors[0].message if errors else code)
        self.errors = errors
        self.code = code

    def graphql_errors(self) -> list[GraphQLError]:
        """The errors of the refusal, each with its code."""
        return self.errors


class Throttled(OperationRefused):
    """An operation over its client's cost budget for now (``RATE_LIMITED``).

    Args:
        errors: What is wrong, for the client.
        retry_after_s: Whole seconds until its cost fits.
    """

    def __init__(self, errors: list[GraphQLError], retry_after_s: int) -> None:
        super().__init__(errors, RATE_LIMITED)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Operation:
    """An operation that passed every check, ready to run.

    ``document_hash`` is the SHA-256 of the document's text, persisted or sent: answers
    are kept by it, so that the same text answers alike however it arrived. The
    ``localization`` (``@inContext``) is read from that text and the variables, so
    whatever keys by both keys by it.
    """

    document: DocumentNode
    definition: OperationDefinitionNode
    variables: dict[str, Any] | None
    name: str | None
    cost: int
    document_hash: str
    persisted_id: str | None = None
    plan: ExecutionPlan | None = None
    throttle: ThrottleStatus | None = None
    client: str | None = None
    fragments: Mapping[str, FragmentDefinitionNode] = field(default_factory=dict)
    counted: Collected = field(default_factory=dict)
    localization: Localization = DEFAULT

    def admitted(self, throttle: ThrottleStatus, client: str) -> Operation:
        """This operation with its client's budget after it; built directly, which
        costs half of what ``dataclasses.replace`` does on every request."""
        return Operation(
            self.document,
            self.definition,
            self.variables,
            self.name,
            self.cost,
            self.document_hash,
            self.persisted_id,
            self.plan,
            throttle,
            client,
            self.fragments,
            self.counted,
            self.localization,
        )


def counted_refusal(
    metrics: GatewayMetrics, errors: list[GraphQLError], code: str
) -> OperationRefused:
    """A refusal with ``code`` on every error, counted."""
    metrics.errors.labels(code).inc()
    return OperationRefused([with_code(e, e.message, code) for e in errors], code)


def with_code(error: GraphQLError, message: str, default_code: str) -> GraphQLError:
    """A client-facing copy of ``error``: the original exception stays behind, and the
    code is set unless it has one."""
    extensions = error.extensions or {}
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={**extensions, "code": extensions.get("code", default_code)},
    )
