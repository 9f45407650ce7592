"""Writes. Every door (the three WebSockets, and HTTP) stores a message through ``message_send``.

These are synchronous ORM functions; async callers go through ``actions``.
"""

from __future__ import annotations

import dataclasses
import datetime

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import UsernameSkeleton
from accounts.skeleton import skeletons

from .models import Message, Room
from .protocol import ErrorCode, ProtocolError


@dataclasses.dataclass(frozen=True, slots=True)
class Stored:
    message: Message
    created: bool  # False when the client_id was already stored: nothing new was written


def room_get_or_create(*, name: str) -> Room:
    """Return the room called ``name`` (already validated and normalised), creating it on first join."""
    room, _ = Room.objects.get_or_create(name=name)
    return room


@dataclasses.dataclass(frozen=True, slots=True)
class Draft:
    """A message to store: who said what where. The id is assigned when it is stored."""

    room: Room
    sender: str
    body: str
    user_id: int | None = None
    client_id: str | None = None


def message_send(
    *, room: Room, sender: str, body: str, user_id: int | None = None, client_id: str | None = None
) -> Stored:
    """Store one message in ``room`` with the next id (see ``message_send_many``); raises
    ProtocolError (forbidden) for a guest whose name looks like a registered user's."""
    draft = Draft(room=room, sender=sender, body=body, user_id=user_id, client_id=client_id)
    result = message_send_many(drafts=[draft])[0]
    if isinstance(result, ProtocolError):
        raise result
    return result


def message_send_many(*, drafts: list[Draft]) -> list[Stored | ProtocolError]:
    """Store messages in one transaction (a group commit), each with its room's next id.

    A draft whose ``client_id`` is already stored in its room (or earlier in ``drafts``) stores
    nothing and returns the stored message with ``created=False``.

    A guest's draft (no ``user_id``) whose sender looks like a registered user's name (the same
    confusable skeleton, ``accounts.skeleton``) stores nothing either: its result is a
    ProtocolError (forbidden), and the rest of the batch is stored. The name is checked here, at
    store time, so a guest whose name was registered after they chose it (or after their connection
    checked it) cannot go on sending under it; it costs one indexed query per batch with guests.

    The rooms' rows are locked first, in id order so two batches never deadlock
    (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's IMMEDIATE transaction locks the database),
    then the messages are inserted and every room's counter moves on, in one statement each. So
    ids are consecutive per room, rooms never wait for each other, and message N commits only
    after message N-1 has: fan-out can fill any gap from the store.
    """
    with transaction.atomic():
        taken = _registered_skeletons(drafts)
        last_ids = _lock_rooms(sorted({d.room.pk for d in drafts}))
        seen = _stored_client_ids(drafts)
        now = timezone.now()
        results: list[Stored | ProtocolError] = []
        new: list[Message] = []
        for draft in drafts:
            key = (draft.room.pk, draft.client_id)
            if draft.client_id is not None and key in seen:
                results.append(Stored(seen[key], created=False))
                continue
            if taken and draft.user_id is None and not taken.isdisjoint(skeletons(draft.sender)):
                results.append(_name_taken(draft.sender))
                continue
            last_ids[draft.room.pk] += 1
            message = Message(
                room_id=draft.room.pk,
                seq=last_ids[draft.room.pk],
                sender=draft.sender,
                user_id=draft.user_id,
                body=draft.body,
                client_id=draft.client_id,
                created_at=now,
            )
            new.append(message)
            if draft.client_id is not None:
                seen[key] = message
            results.append(Stored(message, created=True))
        if new:
            Message.objects.bulk_create(new)
            _move_counters({m.room_id: last_ids[m.room_id] for m in new}, now=now)
    return results


def _move_counters(last_ids: dict[int, int], *, now: datetime.datetime) -> None:
    """Set each room's ``last_id`` (and last activity) in one statement, however many rooms.

    Raw SQL because the ORM's ``Case(When(...))`` for the ~35 rooms of a busy batch cost about
    ten times the statement itself in Python (a quarter of the server's CPU in the bench's D).
    ``CASE id WHEN ... END`` and ``IN`` are the same in PostgreSQL and SQLite.
    """
    quote = connection.ops.quote_name
    table, pk, last_id, activity = (
        quote(Room._meta.db_table),
        quote(Room._meta.pk.column),
        quote("last_id"),
        quote("last_activity"),
    )
    cases = " ".join(["WHEN %s THEN %s"] * len(last_ids))
    rooms = ", ".join(["%s"] * len(last_ids))
    params = [value for item in last_ids.items() for value in item]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {last_id} = CASE {pk} {cases} END, {activity} = %s WHERE {pk} IN ({rooms})",
            [*params, connection.ops.adapt_datetimefield_value(now), *last_ids],
        )


def _lock_rooms(room_pks: list[int]) -> dict[int, int]:
    """Lock the rooms' rows for this transaction and return their last_id by pk."""
    rooms = Room.objects.filter(pk__in=room_pks).order_by("pk")
    if connection.vendor != "sqlite":  # SQLite's IMMEDIATE transaction already holds the write lock
        rooms = rooms.select_for_update()
    return dict(rooms.values_list("pk", "last_id"))


def _registered_skeletons(drafts: list[Draft]) -> set[str]:
    """The skeletons of registered usernames among those of the guest drafts' senders: one indexed
    query. Raw SQL because the ORM's compilation of it cost about as much as the rest of a
    one-message batch (the common case when the server is not busy)."""
    wanted = list({s for d in drafts if d.user_id is None for s in skeletons(d.sender)})
    if not wanted:
        return set()
    table, column = connection.ops.quote_name(UsernameSkeleton._meta.db_table), connection.ops.quote_name("skeleton")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE {column} IN ({', '.join(['%s'] * len(wanted))})", wanted)
        return {row[0] for row in cursor.fetchall()}


def _name_taken(sender: str) -> ProtocolError:
    return ProtocolError(ErrorCode.FORBIDDEN, f"{sender!r} is a registered user's name")


def _stored_client_ids(drafts: list[Draft]) -> dict[tuple[int, str | None], Message]:
    wanted = [d for d in drafts if d.client_id is not None]
    if not wanted:
        return {}
    rows = Message.objects.filter(room_id__in={d.room.pk for d in wanted}, client_id__in={d.client_id for d in wanted})
    return {(m.room_id, m.client_id): m for m in rows}
