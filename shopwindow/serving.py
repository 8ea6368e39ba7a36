"""The serving pointer in MongoDB: reading it, and each conditional step of a switch.

Every step is one ``update_one`` on the pointer document, guarded by what it expects to
find (the switch's token and state, the generation served), so two processes racing
(a rebuild flipping and a member cancelling, say) cannot both win.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shopwindow.generations import (
    POINTER_COLLECTION,
    POINTER_ID,
    Pointer,
    field_key,
    pointer_of,
)
from shopwindow.mongo import DURABLE, MongoDocument


class ServingPointers:
    """The pointer document of one database.

    Args:
        database: The shopwindow database.
    """

    def __init__(self, database: AsyncDatabase[MongoDocument]) -> None:
        # A switch a replica saw must survive a failover and a crash.
        self._collection = database.with_options(write_concern=DURABLE).get_collection(
            POINTER_COLLECTION
        )

    async def read(self) -> Pointer:
        """The pointer as stored now.

        Raises:
            PyMongoError: When MongoDB cannot be reached.
            ValueError: When the stored document is not a pointer.
        """
        return pointer_of(await self._collection.find_one({"_id": POINTER_ID}))

    async def heartbeat(self, member: str, now_s: float) -> None:
        """Say that the live materializer ``member`` runs (a switch waits for it)."""
        await self._collection.update_one(
            {"_id": POINTER_ID},
            {"$set": {f"members.{field_key(member)}": now_s}, "$setOnInsert": {"generation": 0}},
            upsert=True,
        )

    async def forget_members_before(self, cutoff_s: float) -> None:
        """Take off the members not heard from since ``cutoff_s``: processes that died
        without leaving, which would otherwise pile up with every restart."""
        pointer = await self.read()
        stale = {
            f"members.{field_key(member)}": ""
            for member, seen in pointer.members.items()
            if seen < cutoff_s
        }
        if stale:
            await self._collection.update_one({"_id": POINTER_ID}, {"$unset": stale})

    async def leave(self, member: str) -> None:
        """Say that ``member`` stopped: a switch no longer waits for it."""
        await self._collection.update_one(
            {"_id": POINTER_ID}, {"$unset": {f"members.{field_key(member)}": ""}}
        )

    async def pause(self, member: str, token: str) -> None:
        """Say that ``member`` committed its last batch and holds still for ``token``."""
        await self._collection.update_one(
            {"_id": POINTER_ID, "switch.token": token},
            {"$set": {f"switch.paused.{field_key(member)}": True}},
        )

    async def cancel(self, token: str) -> bool:
        """Cancel a switch still pausing (its lease ran out); whether this did it."""
        return await self._step(
            {"switch.token": token, "switch.state": "pausing"},
            {"$set": {"switch.state": "cancelled"}},
        )

    async def begin_building(self, generation: int, served: int, group_id: str) -> bool:
        """Record that ``generation`` is being built, tracked by ``group_id``, unless
        something else is built or a previous generation is kept."""
        await self._ensure()
        return await self._step(
            {"generation": served, "building": None, "previous": None, "switch": None},
            {"$set": {"building": generation, f"groups.{generation}": group_id}},
        )

    async def begin_switch(self, token: str, target: int, served: int) -> bool:
        """Ask the live members to pause for a switch to ``target``."""
        return await self._step(
            {"generation": served, "building": target, "switch": None},
            {
                "$set": {
                    "switch": {"token": token, "target": target, "state": "pausing", "paused": {}}
                }
            },
        )

    async def flip(
        self, token: str, served: int, drained: Mapping[str, int], served_group: str
    ) -> bool:
        """Serve the switch's target: the one atomic step. The members keep waiting
        until ``end_switch``, while the new documents are announced. ``served_group``
        will track the generation served until now, kept for a rollback."""
        pointer = await self.read()
        if pointer.switch is None or pointer.switch.token != token:
            return False
        return await self._step(
            {"generation": served, "switch.token": token, "switch.state": "pausing"},
            {
                "$set": {
                    "generation": pointer.switch.target,
                    "previous": served,
                    "building": None,
                    "drained": dict(drained),
                    "switch.state": "republishing",
                    f"groups.{served}": served_group,
                },
                "$unset": {f"groups.{pointer.switch.target}": ""},
            },
        )

    async def renew(self, token: str) -> None:
        """Say that the switch ``token`` is still being worked on (its members' lease
        starts again)."""
        await self._collection.update_one(
            {"_id": POINTER_ID, "switch.token": token}, {"$inc": {"switch.beat": 1}}
        )

    async def end_switch(self, token: str) -> bool:
        """Let the members go on, on whatever generation is served now."""
        return await self._step({"switch.token": token}, {"$set": {"switch": None}})

    async def finish(self, served: int) -> bool:
        """Forget the previous generation (its collections are dropped by the caller)."""
        pointer = await self.read()
        return await self._step(
            {"generation": served, "previous": pointer.previous, "switch": None},
            {"$set": {"previous": None}, "$unset": {f"groups.{pointer.previous}": ""}},
        )

    async def abandon(self, generation: int) -> bool:
        """Forget the generation being built (its collections are dropped by the caller)."""
        pointer = await self.read()
        unset = {} if pointer.previous == generation else {f"groups.{generation}": ""}
        return await self._step(
            {"building": generation, "switch": None},
            {"$set": {"building": None}, **({"$unset": unset} if unset else {})},
        )

    async def begin_rollback(self, served: int, previous: int) -> bool:
        """Make the previous generation the one being built (caught up), to switch back."""
        return await self._step(
            {"generation": served, "previous": previous, "building": None, "switch": None},
            {"$set": {"building": previous}},
        )

    async def _ensure(self) -> None:
        await self._collection.update_one(
            {"_id": POINTER_ID},
            {"$setOnInsert": {"generation": 0, "building": None, "switch": None}},
            upsert=True,
        )

    async def _step(self, expected: dict[str, Any], update: dict[str, Any]) -> bool:
        result = await self._collection.update_one({"_id": POINTER_ID, **expected}, update)
        return result.modified_count == 1
