"""The fuzz suites use the materializer's and the gateway's fixtures."""

from tests.gateway.conftest import gateway, seed
from tests.materializer.conftest import sourced, world

__all__ = ["gateway", "seed", "sourced", "world"]
