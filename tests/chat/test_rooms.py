"""The room directory: one store lookup per room name per process."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from chat import rooms
from chat.models import Room

pytestmark = pytest.mark.django_db(transaction=True)


async def test_many_first_joins_create_one_room():
    directory = rooms.RoomDirectory()
    found = await asyncio.gather(*(directory.room("새방") for _ in range(20)))
    assert len({room.pk for room in found}) == 1
    assert await database_sync_to_async(Room.objects.filter(name="새방").count)() == 1
    assert {room.name for room in found} == {"새방"}


async def test_a_name_is_read_from_the_store_once():
    directory = rooms.RoomDirectory()
    first = await directory.room("once")
    # Were the directory to ask the store again, it would now create a room with a new id.
    await database_sync_to_async(Room.objects.filter(pk=first.pk).delete)()
    again = await directory.room("once")
    assert again.pk == first.pk
    assert not await database_sync_to_async(Room.objects.filter(name="once").exists)()


async def test_the_directory_forgets_the_oldest_names_past_its_size(monkeypatch):
    monkeypatch.setattr(rooms, "MAX_NAMES", 3)
    directory = rooms.RoomDirectory()
    for name in ("a", "b", "c", "d"):
        await directory.room(name)
    assert list(directory._ids) == ["b", "c", "d"]


async def test_a_failed_lookup_fails_every_waiter_and_is_not_remembered(monkeypatch):
    directory = rooms.RoomDirectory()
    calls = 0

    def broken(*, name):
        nonlocal calls
        calls += 1
        raise RuntimeError("store down")

    monkeypatch.setattr(rooms.services, "room_get_or_create", broken)
    results = await asyncio.gather(*(directory.room("down") for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert calls == 1
    assert "down" not in directory._ids and not directory._pending
