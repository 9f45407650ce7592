"""Writes. Every door (the three WebSockets, and HTTP) stores a message through ``message_send``.

These are synchronous ORM functions; async callers go through ``actions``.
"""

from __future__ import annotations

import dataclasses

from django.db import connection, transaction
from django.utils import timezone

from .models import Message, Room


@dataclasses.dataclass(frozen=True, slots=True)
class Stored:
    message: Message
    created: bool  # False when the client_id was already stored: nothing new was written


def room_get_or_create(*, name: str) -> Room:
    """Return the room called ``name`` (already validated and normalised), creating it on first join."""
    room, _ = Room.objects.get_or_create(name=name)
    return room


def message_send(
    *, room: Room, sender: str, body: str, user_id: int | None = None, client_id: str | None = None
) -> Stored:
    """Store a message in ``room`` with the next id, or return the one already stored for ``client_id``.

    The room row is locked first (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's IMMEDIATE
    transaction locks the database), then the counter is incremented and the message inserted in the
    same transaction. So ids are consecutive per room, rooms never wait for each other, and message
    N commits only after message N-1 has: fan-out can fill any gap from the store.
    """
    with transaction.atomic():
        last_id = _lock_room(room.pk)
        if client_id is not None:
            existing = Message.objects.filter(room_id=room.pk, client_id=client_id).first()
            if existing is not None:
                return Stored(existing, created=False)
        now = timezone.now()
        seq = last_id + 1
        Room.objects.filter(pk=room.pk).update(last_id=seq, last_activity=now)
        message = Message.objects.create(
            room_id=room.pk, seq=seq, sender=sender, user_id=user_id, body=body, client_id=client_id, created_at=now
        )
    return Stored(message, created=True)


def _lock_room(room_pk: int) -> int:
    """Lock the room row for this transaction and return its last_id."""
    if connection.vendor == "sqlite":
        # The IMMEDIATE transaction already holds the write lock; FOR UPDATE is not SQLite syntax.
        return Room.objects.values_list("last_id", flat=True).get(pk=room_pk)
    return Room.objects.select_for_update().values_list("last_id", flat=True).get(pk=room_pk)
