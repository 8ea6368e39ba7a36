"""The gateway's side of a rebuild: read the generation the serving pointer names.

The pointer is read every ``pointer_poll_interval_ms``; when it names another
generation, product reads go to that generation's collection from the next request on.
The documents a replica cached meanwhile stay until the changelog replaces them: the
switch announces every document of the new generation at a higher version.
"""

from __future__ import annotations

import asyncio
import logging

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from shopwindow.gateway.reads.loaders import ProductDocuments
from shopwindow.generations import products_collection
from shopwindow.mongo import MongoDocument
from shopwindow.serving import ServingPointers
from shopwindow.tasks import BackgroundLoop

log = logging.getLogger(__name__)


class ServedGeneration:
    """Points ``documents`` at the served generation's collection, and keeps it there.

    Args:
        database: The shopwindow database.
        documents: The product reads to point.
        poll_interval_s: How often to read the pointer.
    """

    def __init__(
        self,
        database: AsyncDatabase[MongoDocument],
        documents: ProductDocuments,
        poll_interval_s: float,
    ) -> None:
        self._database = database
        self._pointers = ServingPointers(database)
        self._documents = documents
        self._poll_interval_s = poll_interval_s
        self.generation = 0
        self._following = BackgroundLoop("served generation", self._follow)

    async def start(self) -> None:
        """Follow the pointer in the background; the first read happens at once."""
        await self._follow_once()
        self._following.start()

    async def stop(self) -> None:
        """Stop following."""
        await self._following.stop()

    async def _follow(self) -> None:
        await asyncio.sleep(self._poll_interval_s)
        await self._follow_once()

    async def _follow_once(self) -> None:
        try:
            pointer = await self._pointers.read()
        except (PyMongoError, ValueError) as error:
            # Reads fail too while MongoDB is down; the readiness probe says so.
            log.debug("serving pointer not read", extra={"error": str(error)})
            return
        if pointer.generation != self.generation:
            self._documents.use_collection(self._database[products_collection(pointer.generation)])
            log.info(
                "serving generation",
                extra={"generation": pointer.generation, "before": self.generation},
            )
            self.generation = pointer.generation
