"""Masking: every error a client may not see replaced by one that says nothing.

A client's own mistake (a variable of the wrong type, a ``UserInputError``) and a
dependency that did not answer (``DependencyUnavailable``) are shown as they are, with
their codes; anything else a resolver raised becomes ``INTERNAL`` with the
request id, and is logged with its traceback under that id.
"""

from __future__ import annotations

import logging

from graphql import ExecutionResult, GraphQLError

from shopwindow.gateway.errors import DependencyUnavailable, UserInputError
from shopwindow.gateway.execution.operation import with_code
from shopwindow.gateway.metrics import GatewayMetrics

log = logging.getLogger(__name__)


class ErrorMasking:
    """Masks the errors of results, counting each by its code.

    Args:
        metrics: Where to count errors.
    """

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics

    def masked(self, result: ExecutionResult, request_id: str) -> ExecutionResult:
        """``result`` with every error the client may not see replaced by a masked one."""
        if not result.errors:
            return result
        errors = [self._mask(error, request_id) for error in result.errors]
        return ExecutionResult(result.data, errors, result.extensions)

    def _mask(self, error: GraphQLError, request_id: str) -> GraphQLError:
        original = error.original_error
        if original is None or isinstance(original, GraphQLError):
            # Variable coercion and the like: about the request, not the server.
            self._metrics.errors.labels("BAD_USER_INPUT").inc()
            return with_code(error, error.message, "BAD_USER_INPUT")
        if isinstance(original, UserInputError | DependencyUnavailable):
            self._metrics.errors.labels(original.code).inc()
            return with_code(error, str(original), original.code)
        self._metrics.errors.labels("INTERNAL").inc()
        log.error(
            "resolver failed",
            exc_info=(type(original), original, original.__traceback__),
            extra={"request_id": request_id, "path": error.path},
        )
        return GraphQLError(
            "Internal server error",
            path=error.path,
            extensions={"code": "INTERNAL", "requestId": request_id},
        )
