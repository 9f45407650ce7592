"""Room lookups for joins: each name read from the store once per process, not once per join.

Rooms are never renamed or deleted, so the id a name once had is its id for good. When many clients
join a new room at once (a class opening the same link), one of them reads or creates the room and
the others wait for that answer instead of each asking the store.
"""

from __future__ import annotations

import asyncio

from channels.db import database_sync_to_async

from . import services
from .models import Room

# Names remembered per process. A name costs ~200 bytes; past this many, the oldest are forgotten
# (and read again if they come back), so a flood of one-off names cannot grow memory.
MAX_NAMES = 10_000


class RoomDirectory:
    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._ids: dict[str, int] = {}
        self._pending: dict[str, asyncio.Future[int]] = {}

    async def room(self, name: str) -> Room:
        """The room called ``name`` (already checked and normalised), created on first join."""
        pk = self._ids.get(name)
        if pk is None:
            pending = self._pending.get(name)
            pk = await (asyncio.shield(pending) if pending is not None else self._read(name))
        return Room(pk=pk, name=name)

    async def _read(self, name: str) -> int:
        future: asyncio.Future[int] = self.loop.create_future()
        self._pending[name] = future
        try:
            room = await database_sync_to_async(services.room_get_or_create)(name=name)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the waiters re-raise it
            raise
        finally:
            del self._pending[name]
        if len(self._ids) >= MAX_NAMES:
            del self._ids[next(iter(self._ids))]
        self._ids[name] = room.pk
        future.set_result(room.pk)
        return room.pk


_directory: RoomDirectory | None = None


def get_directory() -> RoomDirectory:
    """The room directory of the running event loop (one per process; tests get one per loop)."""
    global _directory
    if _directory is None or _directory.loop is not asyncio.get_running_loop():
        _directory = RoomDirectory()
    return _directory
