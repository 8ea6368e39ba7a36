"""The example extensions in ``examples/`` are importable here, as if installed."""

from __future__ import annotations

import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

for example in sorted(EXAMPLES.iterdir()):
    if example.is_dir() and str(example) not in sys.path:
        sys.path.insert(0, str(example))

from tests.gateway.conftest import gateway as gateway  # noqa: E402  (after the path setup)
