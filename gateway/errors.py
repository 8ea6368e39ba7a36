"""Errors a resolver means the client to see; every other error is masked."""

from __future__ import annotations


class UserInputError(Exception):
    """The client asked for something invalid; the message is shown as it is.

    Args:
        message: What was wrong, in the client's terms.
    """

    code = "BAD_USER_INPUT"


class SearchUnavailable(UserInputError):
    """This replica keeps no search index (``SHOPWINDOW_SEARCH_ENABLED=false``)."""

    code = "SEARCH_UNAVAILABLE"
