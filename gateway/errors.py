"""The gateway's errors: one root, ``GatewayError``, that carries its client-facing code.

Like aiokafka's ``KafkaError`` or Strawberry's ``StrawberryException``: every refusal a
client can get derives from it and says its ``extensions.code``. Each transport maps a
``GatewayError`` to its wire in one place (``transport.graphql_http`` to an HTTP status,
the WebSocket paths to an ``error`` frame); resolvers raise ``UserInputError``, which
the policy's masking shows as it is, as it shows ``DependencyUnavailable``, and every
other exception a resolver raises is masked as ``INTERNAL``.
"""

from __future__ import annotations

from graphql import GraphQLError


class GatewayError(Exception):
    """Base of the gateway's own errors.

    Attributes:
        code: The ``extensions.code`` a client sees; ``INTERNAL`` for errors that never
            reach a client as they are (a plan falling back, a configuration refused).
    """

    code = "INTERNAL"

    def graphql_errors(self) -> list[GraphQLError]:
        """The errors a client gets for this one, each with the code."""
        return [GraphQLError(str(self), extensions={"code": self.code})]


class UserInputError(GatewayError):
    """The client asked for something invalid; the message is shown as it is.

    Args:
        message: What was wrong, in the client's terms.
    """

    code = "BAD_USER_INPUT"


class DependencyUnavailable(GatewayError):
    """A server the gateway reads (MongoDB) did not answer in time; retriable.

    Shown to the client as it is (code ``UNAVAILABLE``); over HTTP the response is 503
    with ``Retry-After``, while ``/readyz`` says which dependency fails.
    """

    code = "UNAVAILABLE"
    retry_after_s = 1


class AmbiguousSku(UserInputError):
    """Two products list the SKU asked for: it is served under neither until one drops
    it, never under whichever MongoDB returned first."""

    code = "AMBIGUOUS_SKU"


class SearchUnavailable(UserInputError):
    """This replica keeps no search index (``SHOPWINDOW_SEARCH_ENABLED=false``)."""

    code = "SEARCH_UNAVAILABLE"
