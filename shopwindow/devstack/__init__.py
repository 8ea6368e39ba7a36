"""Embedded Kafka and MongoDB stand-ins for ``make run`` and the tests."""

from shopwindow.devstack.stack import DevStack

__all__ = ["DevStack"]
