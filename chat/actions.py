"""Actions: what someone does in a room, done the same way whichever door it came through.

Each ``do_*`` takes plain arguments (the room, who does it, the text, the target...), checks what
needs more than the frame (names, mentions, who may moderate), and hands a change to the group
commit (``groupcommit``), which stores it and publishes its event after the commit. The WebSocket
consumers call these; so will the HTTP API. They raise ProtocolError for a change that is refused.
"""

from __future__ import annotations

import math
import time

import markup

from . import db, groupcommit, identity, protocol, selectors, services
from .fanout import broadcast, events
from .identity import Identity
from .models import Room


async def do_send_message(
    *,
    room: Room,
    who: Identity,
    text: str,
    client_id: str | None = None,
    sender: str | None = None,
    reply_to: int | None = None,
    attachments: tuple[int, ...] = (),
) -> services.Outcome:
    """Post a message; return its outcome (``created`` False: a repeated ``client_id``, whose
    stored event is returned for the sender alone).

    ``sender`` is a guest's claimed name (ignored for a logged-in user). ``@name``s that name a
    registered user or someone present in the room become the message's ``mentions``; the
    registered ones are told. Raises ProtocolError: invalid_name for a malformed ``sender``;
    forbidden for a guest whose name looks like a registered user's (checked when the message is
    stored, so a name registered after the guest chose it stops working at once); not_found for a
    ``reply_to`` that names no message of the room or an attachment that is not the sender's
    upload to this room; conflict for an upload another message carries.

    The text is rendered here, once (``markup.render``: the frame and the store carry its HTML).
    """
    name = identity.sender_claim(who, sender)
    mentions, notify = await _mentions(room, text, author=who)
    post = services.Post(
        room=room,
        sender=name,
        body=text,
        user_id=who.user_id,
        client_id=client_id,
        session_key=who.session_key,
        reply_to=reply_to,
        mentions=mentions,
        notify=notify,
        html=await markup.render_async(text, mentions=mentions),
        attachments=attachments,
        bot=who.bot,
    )
    return await groupcommit.get_writer().submit(post)


async def do_edit(
    *,
    room: Room,
    who: Identity,
    target: int,
    text: str,
    edit_window: float,
    attachments: tuple[int, ...] | None = None,
) -> services.Outcome:
    """Change the text of message ``target`` (and its ``attachments``, if given): its author only,
    within ``edit_window`` seconds (the namespace's policy; 0: no limit). The new text is rendered
    here; its HTML marks the names it mentions now (an edit tells no one: a message's ``mentions``
    are those it was posted with)."""
    mentions, _ = await _mentions(room, text, author=who)
    edit = services.Edit(
        room=room,
        target=target,
        body=text,
        sender=who.name,
        user_id=who.user_id,
        session_key=who.session_key,
        edit_window=edit_window,
        html=await markup.render_async(text, mentions=mentions),
        attachments=attachments,
    )
    return await groupcommit.get_writer().submit(edit)


async def do_delete(*, room: Room, who: Identity, target: int, moderator: bool) -> services.Outcome:
    """Delete message ``target``: its author, or a ``moderator`` of the room (an owner or moderator
    of its namespace, or staff outside DMs: ``access.NsAccess.moderator``), whose delete is audited."""
    delete = services.Delete(
        room=room,
        target=target,
        by=who.name,
        user_id=who.user_id,
        session_key=who.session_key,
        moderator=moderator,
    )
    return await groupcommit.get_writer().submit(delete)


async def do_react(*, room: Room, who: Identity, target: int, emoji: str, add: bool) -> services.Outcome:
    """Add or remove ``who``'s ``emoji`` on message ``target`` (a repeat changes nothing)."""
    react = services.React(room=room, target=target, emoji=emoji, add=add, sender=who.name, user_id=who.user_id)
    return await groupcommit.get_writer().submit(react)


async def do_read(*, room: Room, who: Identity, up_to: int, origin: str = "") -> int:
    """Move a logged-in user's read cursor in ``room`` forward to ``up_to`` (never back, never past
    the room's last event); tell their other connections to the room. Returns the cursor."""
    if who.user_id is None:
        raise protocol.ProtocolError(protocol.ErrorCode.FORBIDDEN, "only a logged-in user has a read cursor")
    cursor, moved = await db.call(services.read_cursor_move, user_id=who.user_id, room_id=room.pk, up_to=up_to)
    if moved:
        await events.publish_read(user_id=who.user_id, room=room, up_to=cursor, origin=origin)
    return cursor


async def do_typing(*, room: Room, who: Identity, origin: str = "") -> None:
    """Tell the room's members that ``who`` is typing (a hint: not stored, dropped quietly when the
    bus fails). ``origin`` is the connection it came from, which does not get it back; "" (an HTTP
    request): every member does, the typist's own connections too. The caller applies the rate
    rule (``protocol.TYPING_MIN_INTERVAL``: per connection, or per user and room, ``typing_allowed``)."""
    text = protocol.encode(protocol.typing_frame(who.name))
    await broadcast.get_hub().publish_typing(room=room.address, origin=origin, text=text)


# The last typing hint by (user, room) from a door without a connection (HTTP), in this process.
_typed: dict[tuple[int | str, int], float] = {}


def typing_allowed(*, room: Room, who: Identity) -> bool:
    """The rate rule for typing hints that come without a connection (HTTP): one per user (or
    guest session) and room per ``protocol.TYPING_MIN_INTERVAL``; extra ones are dropped."""
    now = time.monotonic()
    key = (who.user_id if who.user_id is not None else who.session_key or who.name, room.pk)
    if now - _typed.get(key, -math.inf) < protocol.TYPING_MIN_INTERVAL:
        return False
    if len(_typed) > 10_000:  # forget the old ones: they no longer limit anything
        for stale in [k for k, when in _typed.items() if now - when >= protocol.TYPING_MIN_INTERVAL]:
            del _typed[stale]
    _typed[key] = now
    return True


async def _mentions(room: Room, text: str, *, author: Identity) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The names ``@mentioned`` in ``text`` that are registered users or present in the room, and
    the ids of the registered ones (other than the author). No database trip without an ``@``."""
    candidates = protocol.mention_candidates(text) if "@" in text else []
    if not candidates:
        return (), ()
    present = broadcast.get_hub().names_in(room.address)
    users = await db.call(selectors.users_named, names=candidates, room=room)
    names = tuple(n for n in candidates if n in present or n.casefold() in users)
    notify = tuple(uid for n in names if (uid := users.get(n.casefold())) is not None and uid != author.user_id)
    return names, tuple(dict.fromkeys(notify))
