"""Reads. Each returns plain values or model instances; none writes."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import looks_registered

from . import protocol
from .models import Message, Room


def room_get(*, name: str) -> Room | None:
    return Room.objects.filter(name=name).first()


def room_list(*, limit: int = 200) -> list[Room]:
    """Rooms, newest activity first."""
    return list(Room.objects.order_by("-last_activity")[:limit])


def message_to_frame(message: Message, *, room: str) -> protocol.MessageFrame:
    return protocol.message_frame(
        seq=message.seq,
        room=room,
        sender=message.sender,
        message=message.body,
        created_at=message.created_at,
        client_id=message.client_id,
    )


_FRAME_FIELDS = ("seq", "sender", "body", "created_at", "client_id")


def _frames(rows: QuerySet[Message], *, room: str) -> list[protocol.MessageFrame]:
    """Rows as message frames, read as tuples: no model instance per message (history pages are
    the largest reads clients can ask for; instances cost about twice as much as the tuples)."""
    return [
        protocol.message_frame(seq=seq, room=room, sender=sender, message=body, created_at=created_at, client_id=cid)
        for seq, sender, body, created_at, cid in rows.values_list(*_FRAME_FIELDS)
    ]


def history_before(*, room_id: int, room: str, before: int, limit: int) -> tuple[list[protocol.MessageFrame], bool]:
    """Up to ``limit`` messages with id < ``before``, oldest first, and whether older ones exist."""
    frames = _frames(Message.objects.filter(room_id=room_id, seq__lt=before).order_by("-seq")[: limit + 1], room=room)
    has_more = len(frames) > limit
    return frames[:limit][::-1], has_more


def history_after(*, room_id: int, room: str, after: int, until: int, limit: int) -> list[protocol.MessageFrame]:
    """Up to ``limit`` messages with ``after`` < id <= ``until``, oldest first: one page of a resume."""
    return _frames(
        Message.objects.filter(room_id=room_id, seq__gt=after, seq__lte=until).order_by("seq")[:limit], room=room
    )


def messages_between(*, room_id: int, room: str, after: int, before: int) -> list[protocol.MessageFrame]:
    """Messages with ``after`` < id < ``before``, oldest first: what fan-out uses to fill a gap."""
    return _frames(Message.objects.filter(room_id=room_id, seq__gt=after, seq__lt=before).order_by("seq"), room=room)


def username_taken(*, name: str) -> bool:
    """Whether ``name`` looks like a registered user's name (same confusable skeleton: case, width,
    accents and look-alike letters ignored), so a guest may not use it. One indexed query."""
    return looks_registered(name)
