"""Changelog records to index rows: in this process, or in a worker process while a
large index is being built.

Reading a document (JSON, the contract's typed views, the row) is plain Python and
costs about as much as indexing it; with the GIL, one process does one at a time. While
a replica builds its index from a large changelog, a worker process converts the next
batch while this one indexes the last, which is what lifts the build rate on a
multi-core pod. It is started only for a build of at least ``WORKER_MIN_RECORDS`` and
stopped once the build is done; a worker that dies is replaced by in-process work.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from shopwindow.document import NewerSchemaVersion, decode_changelog_value
from shopwindow.gateway.search.rows import IndexRow, row_of
from shopwindow.sale_product import read_sale_product

log = logging.getLogger(__name__)

WORKER_MIN_RECORDS = 20_000

# A changelog record as conversion needs it: key, value, offset.
Record = tuple[bytes | None, bytes | None, int]


@dataclass
class Changes:
    """The newest row per product of a batch (``None`` takes a product out), and the
    records that could not be read, with the reason."""

    rows: dict[str, IndexRow | None] = field(default_factory=dict)
    unreadable: list[tuple[str, int, str]] = field(default_factory=list)


def changes_of(records: Sequence[Record]) -> Changes:
    """What ``records`` change in the index. Pure, so that a worker process can run it.

    An unreadable record takes its product out: better missing than stale.
    """
    changes = Changes()
    for key, value, offset in records:
        if key is None:
            continue
        product_id = key.decode("utf-8", "replace")
        if value is None:
            changes.rows[product_id] = None
            continue
        try:
            changes.rows[product_id] = row_of(read_sale_product(decode_changelog_value(value)))
        except (ValueError, ArithmeticError, TypeError, KeyError, NewerSchemaVersion) as error:
            changes.rows[product_id] = None
            changes.unreadable.append((product_id, offset, str(error)))
    return changes


class RowConverter:
    """Converts batches of records, in a worker process while ``parallel``.

    Args:
        local: Where in-process conversion runs (the index's writer thread).
    """

    def __init__(self, local: Executor) -> None:
        self._local = local
        self._worker: ProcessPoolExecutor | None = None

    @property
    def parallel(self) -> bool:
        """Whether a worker process converts."""
        return self._worker is not None

    def start_worker(self, records: int) -> None:
        """Convert in a worker process from now on, if a build of ``records`` is worth
        one and there is a second CPU for it."""
        if records >= WORKER_MIN_RECORDS and (os.cpu_count() or 1) > 1 and self._worker is None:
            # spawn: forking a process with running threads (Kafka, tantivy) is unsafe.
            self._worker = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))

    def stop_worker(self) -> None:
        """Convert in this process again."""
        if self._worker is not None:
            self._worker.shutdown(wait=False, cancel_futures=True)
            self._worker = None

    def convert(self, records: list[Record]) -> asyncio.Future[Changes]:
        """Start converting ``records``; await the result."""
        loop = asyncio.get_running_loop()
        if self._worker is None:
            return loop.run_in_executor(self._local, changes_of, records)
        done = loop.run_in_executor(self._worker, changes_of, records)

        async def or_locally() -> Changes:
            try:
                return await done
            except BrokenProcessPool:
                log.warning("search conversion worker died; converting in-process")
                self.stop_worker()
                return await loop.run_in_executor(self._local, changes_of, records)

        return asyncio.ensure_future(or_locally())
