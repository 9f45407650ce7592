"""Reads. Each returns plain values or model instances; none writes."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from typing import TypeVar

import orjson
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet

from accounts.models import looks_registered

from . import access, protocol
from .fanout import busevents
from .models import Event, Membership, Mention, Message, NotifyLevel, ReadState, Room

T = TypeVar("T")


def room_get(*, name: str) -> Room | None:
    """A room of ``public`` (the namespace of every URL without one)."""
    return Room.objects.filter(address=name).first()


def room_list(*, limit: int = 200) -> list[Room]:
    """The public rooms of ``public``, newest activity first (a private room is in no list but its
    members': ``access.visible_rooms``)."""
    rows = Room.objects.filter(namespace__name=protocol.PUBLIC, private=False)
    return list(rows.order_by("-last_activity")[:limit])


def insiders(*, namespace: str, user_ids: set[int]) -> set[int]:
    """Those of ``user_ids`` who are members of ``namespace``, or staff."""
    if not user_ids:
        return set()
    members = Membership.objects.filter(namespace__name=namespace, user_id__in=user_ids).values_list(
        "user_id", flat=True
    )
    staff = get_user_model().objects.filter(pk__in=user_ids, is_staff=True).values_list("pk", flat=True)
    return {*members, *staff}


def message_state(message: Message, *, room: str) -> protocol.MessageState:
    """A message as it is now: its frame plus edited, deleted, reactions and replies."""
    return _state(
        room,
        message.seq,
        message.sender,
        message.body,
        message.created_at,
        message.client_id,
        message.reply_to,
        message.mentions,
        message.html,
        message.attachments,
        message.edited,
        message.deleted,
        message.reactions,
        message.replies,
        message.bot,
    )


_STATE_FIELDS = (
    "seq",
    "sender",
    "body",
    "created_at",
    "client_id",
    "reply_to",
    "mentions",
    "html",
    "attachments",
    "edited",
    "deleted",
    "reactions",
    "replies",
    "bot",
)


def _state(
    room: str,
    seq: int,
    sender: str,
    body: str,
    created_at: dt.datetime,
    client_id: str | None,
    reply_to: int | None,
    mentions: list[str],
    html: str,
    attachments: list[protocol.Attachment],
    edited: bool,
    deleted: bool,
    reactions: dict[str, list[str]],
    replies: int,
    bot: bool = False,
) -> protocol.MessageState:
    return {
        "type": "message",
        "id": seq,
        "room": room,
        "sender": sender,
        "message": body,
        "ts": protocol.format_ts(created_at),
        "client_id": client_id,
        "reply_to": reply_to,
        "mentions": mentions,
        "html": html,
        "attachments": attachments,
        "bot": bot,
        "edited": edited,
        "deleted": deleted,
        "reactions": reactions,
        "replies": replies,
    }


def _states(rows: QuerySet[Message], *, room: str) -> list[protocol.MessageState]:
    """Rows as messages in their current state, read as tuples: no model instance per message
    (history pages are the largest reads clients can ask for; instances cost about twice as much)."""
    return [_state(room, *row) for row in rows.values_list(*_STATE_FIELDS)]


@contextlib.contextmanager
def snapshot() -> Iterator[None]:
    """Reads inside see the store at one moment (the messages as of the room's ``last_id`` read in
    the same block): a repeatable-read transaction on PostgreSQL; on SQLite the transaction holds
    the database lock, so no write lands between the reads."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def room_last_id(*, room_id: int) -> int:
    return Room.objects.filter(pk=room_id).values_list("last_id", flat=True).first() or 0


def room_pruned_to(*, room_id: int) -> int:
    """The id up to which the retention job removed the room's events (0: none)."""
    return Room.objects.filter(pk=room_id).values_list("pruned_to", flat=True).first() or 0


def history_page(*, room_id: int, room: str, before: int, limit: int) -> tuple[list[protocol.MessageState], bool, int]:
    """``history_before`` as of one moment, and the id of the room's last event at that moment:
    the page holds every change up to it and none after it."""
    with snapshot():
        as_of = room_last_id(room_id=room_id)
        messages, has_more = history_before(room_id=room_id, room=room, before=min(before, as_of + 1), limit=limit)
    return messages, has_more, as_of


def history_before(*, room_id: int, room: str, before: int, limit: int) -> tuple[list[protocol.MessageState], bool]:
    """Up to ``limit`` messages with id < ``before`` as they are now, oldest first, and whether
    older ones exist. Ids are event ids: a page counts messages, whatever events lie between. A
    page holds fewer (the newest of them) rather than pass ``PARLEY_HISTORY_FRAME_BYTES``."""
    rows = Message.objects.filter(room_id=room_id, seq__lt=before).order_by("-seq")[: limit + 1]
    messages = _states(rows, room=room)
    has_more = len(messages) > limit
    kept = _within_budget(messages[:limit], lambda m: len(orjson.dumps(m)))
    return kept[::-1], has_more or len(kept) < min(len(messages), limit)


def history_around_page(
    *, room_id: int, room: str, around: int, limit: int
) -> tuple[list[protocol.MessageState], bool, bool, int]:
    """``history_around`` as of one moment, and the id of the room's last event at that moment."""
    with snapshot():
        as_of = room_last_id(room_id=room_id)
        messages, has_more, has_newer = history_around(
            room_id=room_id, room=room, around=around, limit=limit, until=as_of
        )
    return messages, has_more, has_newer, as_of


def history_around(
    *, room_id: int, room: str, around: int, limit: int, until: int | None = None
) -> tuple[list[protocol.MessageState], bool, bool]:
    """Up to ``limit`` messages around id ``around`` as they are now, oldest first: the message
    ``around`` (if there is one) and older ones, half the page, and newer ones (up to ``until``),
    the other half (a side with fewer leaves its room to the other); whether older ones exist beyond
    the page (``has_more``), and newer ones (``has_newer``). What a search result opens: the room
    at that message. Fewer, nearest ``around`` first, rather than pass ``PARLEY_HISTORY_FRAME_BYTES``."""
    older_rows = Message.objects.filter(room_id=room_id, seq__lte=around).order_by("-seq")[: limit + 1]
    newer_rows = Message.objects.filter(room_id=room_id, seq__gt=around)
    if until is not None:
        newer_rows = newer_rows.filter(seq__lte=until)
    older = _states(older_rows, room=room)
    newer = _states(newer_rows.order_by("seq")[: limit + 1], room=room)
    after = min(len(newer), limit // 2)
    before = min(len(older), limit - after)
    after = min(len(newer), limit - before)
    # Nearest first (the message itself, then one newer and one older in turn), so a page cut by
    # the byte budget keeps what is closest to it.
    order: list[tuple[bool, protocol.MessageState]] = []
    for i in range(max(before, after)):
        if i < before:
            order.append((False, older[i]))
        if i < after:
            order.append((True, newer[i]))
    kept = _within_budget(order, lambda item: len(orjson.dumps(item[1])))
    kept_older = [m for is_newer, m in kept if not is_newer]
    kept_newer = [m for is_newer, m in kept if is_newer]
    has_more = len(older) > len(kept_older)
    has_newer = len(newer) > len(kept_newer)
    return kept_older[::-1] + kept_newer, has_more, has_newer


def _within_budget(items: list[T], size: Callable[[T], int]) -> list[T]:
    """The first of ``items`` whose encoded sizes add up to ``PARLEY_HISTORY_FRAME_BYTES`` (at least
    one): a history frame of messages at the longest (and their html) would be megabytes, more than
    clients take in one frame (1 MiB is a common limit)."""
    budget = settings.PARLEY_HISTORY_FRAME_BYTES
    total = 0
    for count, item in enumerate(items):
        total += size(item)
        if total > budget and count:
            return items[:count]
    return items


def thread(*, room_id: int, room: str, target: int) -> tuple[list[protocol.MessageState] | None, int]:
    """The replies to message ``target`` as they are now, oldest first (None if there is no such
    message, or it is deleted), and the id of the room's last event they include (a snapshot)."""
    with snapshot():
        as_of = room_last_id(room_id=room_id)
        if not Message.objects.filter(room_id=room_id, seq=target, deleted=False).exists():
            return None, as_of
        return _states(Message.objects.filter(room_id=room_id, reply_to=target).order_by("seq"), room=room), as_of


def events_after(*, room_id: int, after: int, until: int, limit: int) -> list[orjson.Fragment]:
    """Up to ``limit`` events with ``after`` < id <= ``until``, oldest first, as they were sent
    live (already encoded): one page of a resume (fewer rather than pass
    ``PARLEY_HISTORY_FRAME_BYTES``)."""
    return events_page(room_id=room_id, after=after, until=until, limit=limit)[0]


def events_page(*, room_id: int, after: int, until: int, limit: int) -> tuple[list[orjson.Fragment], bool]:
    """``events_after``, and whether events up to ``until`` remain after the page."""
    rows = Event.objects.filter(room_id=room_id, seq__gt=after, seq__lte=until).order_by("seq")[:limit]
    found = _within_budget(list(rows.values_list("seq", "frame")), lambda row: len(row[1].encode()))
    return [orjson.Fragment(frame) for _, frame in found], bool(found) and found[-1][0] < until


def events_between(*, room_id: int, after: int, before: int) -> list[busevents.RoomEvent]:
    """Events with ``after`` < id < ``before``, oldest first: what fan-out uses to fill a gap."""
    rows = Event.objects.filter(room_id=room_id, seq__gt=after, seq__lt=before).order_by("seq")
    return [
        busevents.RoomEvent(seq=seq, text=frame, message=kind == Event.Kind.MESSAGE)
        for seq, kind, frame in rows.values_list("seq", "kind", "frame")
    ]


def users_named(*, names: list[str], room: Room | None = None) -> dict[str, int]:
    """Registered users among ``names`` (case-insensitively): casefolded name -> user id; with
    ``room``, only those who may read it (a mention never tells an outsider of a private room)."""
    query = Q()
    for name in names:
        query |= Q(username__iexact=name)
    rows = get_user_model().objects.filter(query).values_list("username", "pk")
    found = {username.casefold(): pk for username, pk in rows}
    if room is not None and found:
        readers = access.readers(room, set(found.values()))
        found = {name: pk for name, pk in found.items() if pk in readers}
    return found


def read_up_to(*, user_id: int, room_id: int) -> int:
    """How far a user has read a room (0 before their first read)."""
    return ReadState.objects.filter(user_id=user_id, room_id=room_id).values_list("up_to", flat=True).first() or 0


def unread_count(*, user_id: int, room_id: int, up_to: int | None = None) -> int:
    """Messages not deleted and not the user's own with an id above their read cursor."""
    if up_to is None:
        up_to = read_up_to(user_id=user_id, room_id=room_id)
    return Message.objects.filter(room_id=room_id, seq__gt=up_to, deleted=False).exclude(user_id=user_id).count()


def username_taken(*, name: str) -> bool:
    """Whether ``name`` looks like a registered user's name (same confusable skeleton: case, width,
    accents and look-alike letters ignored), so a guest may not use it. One indexed query."""
    return looks_registered(name)


def unread_counts(*, user_id: int, room_ids: list[int]) -> dict[int, int]:
    """``unread_count`` for many rooms at once (the room list): room id -> unread messages, rooms
    with none left out. Two queries whatever the number of rooms: the user's read cursors, then one
    count grouped by room over each room's id range above its cursor (the (room, seq) index)."""
    if not room_ids:
        return {}
    cursors = dict(ReadState.objects.filter(user_id=user_id, room_id__in=room_ids).values_list("room_id", "up_to"))
    after = Q()
    for room_id in room_ids:
        after |= Q(room_id=room_id, seq__gt=cursors.get(room_id, 0))
    rows = (
        Message.objects.filter(after, deleted=False)
        .exclude(user_id=user_id)
        .values("room_id")
        .annotate(unread=Count("id"))
        .values_list("room_id", "unread")
    )
    return dict(rows)


@dataclasses.dataclass(frozen=True, slots=True)
class MentionItem:
    """One mention as the Mentions page shows it: where, by whom, and the message as it is now."""

    room: str
    id: int  # the message's id in its room
    sender: str
    address: str  # the room's (protocol.room_address): where the page links
    message: str  # "" once deleted
    edited: bool
    deleted: bool
    created_at: dt.datetime


def mentions_recent(*, user_id: int, limit: int) -> list[MentionItem]:
    """A user's ``limit`` most recent mentions, newest first, each with its message's current state
    (a mention whose message row is gone is left out). Two queries: the mentions, then their messages."""
    mentions = list(
        Mention.objects.filter(user_id=user_id)
        .order_by("-created_at", "-id")
        .values_list("room_id", "room__name", "seq", "created_at", "room__address")[:limit]
    )
    if not mentions:
        return []
    which = Q()
    for room_id, _, seq, _, _ in mentions:
        which |= Q(room_id=room_id, seq=seq)
    rows = Message.objects.filter(which).values_list("room_id", "seq", "sender", "body", "edited", "deleted")
    messages = {(room_id, seq): (sender, body, edited, deleted) for room_id, seq, sender, body, edited, deleted in rows}
    items = []
    for room_id, room, seq, created_at, address in mentions:
        found = messages.get((room_id, seq))
        if found is None:
            continue
        sender, body, edited, deleted = found
        items.append(
            MentionItem(
                room=room,
                id=seq,
                sender=sender,
                address=address,
                message="" if deleted else body,
                edited=edited,
                deleted=deleted,
                created_at=created_at,
            )
        )
    return items


def message_now(*, room: Room, seq: int) -> protocol.MessageState:
    """Message ``seq`` of ``room`` as it is now; not_found if there is none."""
    message = Message.objects.filter(room_id=room.pk, seq=seq).first()
    if message is None:
        raise protocol.ProtocolError(protocol.ErrorCode.NOT_FOUND, f"no message {seq} in this room")
    return message_state(message, room=room.name)


def notify_level(*, user_id: int, room: Room) -> str:
    """How the user wants to hear of the room (``NotifyLevel``): their choice, else the default:
    every message in a direct message, mentions elsewhere."""
    chosen = NotifyLevel.objects.filter(user_id=user_id, room=room).values_list("level", flat=True).first()
    if chosen is not None:
        return chosen
    dm = room.address.startswith(f"{access.DM_NAMESPACE}/")
    return NotifyLevel.Level.ALL if dm else NotifyLevel.Level.MENTIONS
