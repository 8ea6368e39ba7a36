"""Request ids: unique, plain, and drawn anew by a forked process."""

from __future__ import annotations

import os
import re

import pytest

from shopwindow.gateway.execution.context import new_request_id


def test_request_ids_are_unique_plain_hex_and_differ_per_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = [new_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    here = {i[:16] for i in ids}
    assert len(here) == 1  # One random half per process...
    monkeypatch.setattr(os, "getpid", lambda: -1)
    child = new_request_id()
    assert child[:16] not in here  # ...and a forked child draws its own.
