"""Request ids: unique, plain, and drawn anew by a forked process."""

from __future__ import annotations

import re
import subprocess
import sys

from shopwindow.gateway.execution.context import new_request_id

# Forks in an interpreter of its own: pytest's has threads, which make fork() unsafe.
_FORKING = """
import os
from shopwindow.gateway.execution.context import new_request_id
print(new_request_id(), flush=True)
child = os.fork()
if child == 0:
    print(new_request_id(), flush=True)
    os._exit(0)
os.waitpid(child, 0)
print(new_request_id(), flush=True)
"""


def test_request_ids_are_unique_plain_hex_and_one_random_half_per_process() -> None:
    ids = [new_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len({i[:16] for i in ids}) == 1


def test_a_forked_child_draws_its_own_random_half() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _FORKING], capture_output=True, text=True, timeout=60, check=True
    )
    before, in_child, after = done.stdout.split()
    assert before[:16] == after[:16]  # The parent keeps its own...
    assert in_child[:16] != before[:16]  # ...and the child draws anew.
