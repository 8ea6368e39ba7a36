"""Fuzzing through real clients. ``make test`` runs a short pass; ``make fuzz`` sets
``SHOPWINDOW_FUZZ_SCALE`` for a long one."""

from __future__ import annotations

import os

# How many times more examples than the short pass in `make test`.
SCALE = max(int(os.environ.get("SHOPWINDOW_FUZZ_SCALE", "1")), 1)
