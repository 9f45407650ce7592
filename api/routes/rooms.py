"""The room routes, twice: ``/rooms/<room>/...`` (the ``public`` namespace) and
``/ns/<ns>/rooms/<room>/...`` (any namespace), one implementation (``_room_*``): the route only says
which namespace. Direct messages (``/dm/<username>/messages``) use it too; so does room creation
(``POST /ns/<ns>/rooms``, beside the list it adds to)."""

from __future__ import annotations

import asyncio
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from ninja import Router

import markup
from api import schemas
from api.routes.common import (
    AFTER,
    AROUND,
    BEFORE,
    CREATE,
    IDEMPOTENCY_KEY,
    LIMIT,
    LOOKUP,
    MESSAGES_PAGE,
    MSG,
    PLAIN,
    POSTED,
    PUBLIC,
    TEXT,
    WRITE,
    answers,
    caller_of,
    json,
    namespace_for,
    namespace_of,
    room_name,
    room_of,
    spend,
    user_of,
    who,
)
from chat import access, actions, db, namespaces, protocol, reads, selectors
from chat.access import Caller, RoomAccess
from chat.fanout import pubsub
from chat.models import Room
from chat.protocol import MAX_ID, ErrorCode, ProtocolError

router = Router()


def _rooms(caller: Caller, ns: schemas.RoomName) -> list[dict[str, Any]]:
    rooms = access.visible_rooms(caller, namespace_for(caller, ns))
    online = pubsub.online_counts(keys=[protocol.room_key(r.address) for r in rooms])
    assert caller.user_id is not None
    unread = selectors.unread_counts(user_id=caller.user_id, room_ids=[r.pk for r in rooms])
    return [
        {
            "name": r.name,
            "last_id": r.last_id,
            "last_activity": protocol.format_ts(r.last_activity),
            "online": online.get(protocol.room_key(r.address), 0),
            "unread": unread.get(r.pk, 0),
        }
        for r in rooms
    ]


def _history(room: Room, before: int | None, limit: int) -> dict[str, Any]:
    messages, has_more = selectors.history_before(
        room_id=room.pk, room=room.name, before=before if before is not None else MAX_ID, limit=limit
    )
    return {"messages": messages, "has_more": has_more}


def _around(room: Room, around: int, limit: int) -> dict[str, Any]:
    messages, has_more, has_newer = selectors.history_around(
        room_id=room.pk, room=room.name, around=around, limit=limit
    )
    return {"messages": messages, "has_more": has_more, "has_newer": has_newer}


def _events(room: Room, after: int, before: int | None, limit: int) -> dict[str, Any]:
    """The events after ``after`` (and before ``before``, if given), oldest first."""
    until = selectors.room_last_id(room_id=room.pk)
    if before is not None:
        until = min(until, before - 1)
    events, has_more = selectors.events_page(room_id=room.pk, after=after, until=until, limit=limit)
    return {"events": events, "has_more": has_more}


# The shared implementation of the room routes: each takes the caller and the room as the caller
# may see it (or, for a post, how to find or make it), whichever prefix the route has.


async def _room_list(user: AbstractBaseUser, ns: schemas.RoomName) -> HttpResponse:
    return json({"rooms": await reads.read(_rooms, caller_of(user), ns)})


async def _room_messages(
    grant: RoomAccess, before: int | None, after: int | None, limit: int | None, around: int | None = None
) -> HttpResponse:
    page_max = settings.PARLEY_HISTORY_PAGE_MAX
    size = min(limit or page_max, page_max)
    if around is not None:  # before and after are then unused
        return json(await reads.read(_around, grant.room, around, size))
    if after is not None:
        return json(await reads.read(_events, grant.room, after, before, size))
    return json(await reads.read(_history, grant.room, before, size))


async def _room_post(
    user: AbstractBaseUser, body: schemas.PostMessage, idempotency_key: str | None, grant: RoomAccess
) -> HttpResponse:
    """Post into the room of ``grant``, by its namespace's policy."""
    client_id = idempotency_key if idempotency_key is not None else body.client_id  # the header wins
    if client_id is not None and protocol.has_control(client_id):
        raise ProtocolError(ErrorCode.INVALID_FRAME, "'client_id' must not hold control characters")
    attachments = protocol.check_attachments(body.attachments) or ()
    given = body.message if "message" in body.model_fields_set else None  # neither: invalid_frame
    text = protocol.check_message(given, grant.policy.limits(), empty_ok=bool(attachments))
    spend(user)
    outcome = await actions.do_send_message(
        room=grant.room,
        who=who(user),
        text=text,
        client_id=client_id,
        reply_to=body.reply_to,
        attachments=attachments,
    )
    if outcome.created and outcome.text is not None:
        return HttpResponse(outcome.text, status=201, content_type="application/json")
    return json(await reads.read(selectors.message_now, room=grant.room, seq=outcome.seq))


async def _room_post_in(
    user: AbstractBaseUser,
    ns: schemas.RoomName,
    room: schemas.RoomName,
    body: schemas.PostMessage,
    idempotency_key: str | None,
) -> HttpResponse:
    """A post to a room of a namespace: a missing room is made if the caller may create rooms
    there, else 404 (``access.access_join``: the namespace, the caller's role and ban, and the
    room, in one trip to the database)."""
    grant = await db.call(access.access_join, caller_of(user), ns, room_name(room))
    return await _room_post(user, body, idempotency_key, grant)


async def _message_edit(
    user: AbstractBaseUser, grant: RoomAccess, message_id: int, body: schemas.EditMessage
) -> HttpResponse:
    attachments = protocol.check_attachments(body.attachments)
    given = body.message if "message" in body.model_fields_set else None  # neither: invalid_frame
    text = protocol.check_message(given, grant.policy.limits(), empty_ok=attachments is not None)
    spend(user)
    await actions.do_edit(
        room=grant.room,
        who=who(user),
        target=message_id,
        text=text,
        edit_window=grant.policy.edit_window,
        attachments=attachments,
    )
    return json(await reads.read(selectors.message_now, room=grant.room, seq=message_id))


async def _message_delete(user: AbstractBaseUser, grant: RoomAccess, message_id: int) -> HttpResponse:
    spend(user)
    await actions.do_delete(room=grant.room, who=who(user), target=message_id, moderator=grant.moderator)
    return HttpResponse(status=204)


async def _message_react(
    user: AbstractBaseUser, grant: RoomAccess, message_id: int, body: schemas.ReactionRequest
) -> HttpResponse:
    emoji = protocol.check_emoji(body.emoji)
    spend(user)
    await actions.do_react(room=grant.room, who=who(user), target=message_id, emoji=emoji, add=body.op == "add")
    return json(await reads.read(selectors.message_now, room=grant.room, seq=message_id))


async def _message_thread(grant: RoomAccess, message_id: int) -> HttpResponse:
    room = grant.room
    replies, _ = await reads.read(selectors.thread, room_id=room.pk, room=room.name, target=message_id)
    if replies is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no message {message_id} in this room")
    return json({"target": message_id, "messages": replies})


async def _room_read(user: AbstractBaseUser, grant: RoomAccess, up_to: int) -> HttpResponse:
    spend(user)
    return json({"up_to": await actions.do_read(room=grant.room, who=who(user), up_to=up_to)})


async def _room_typing(user: AbstractBaseUser, grant: RoomAccess) -> HttpResponse:
    """ "I am typing", as the WebSocket's typing frame: one per user and room per second is passed
    on (and spends a write); extra ones are dropped without an error. 204 either way."""
    speaker = who(user)
    if actions.typing_allowed(room=grant.room, who=speaker):
        spend(user)
        await actions.do_typing(room=grant.room, who=speaker)
    return HttpResponse(status=204)


TYPED = answers(status=204, schema=None, errors=WRITE)


# --- The rooms of public: /rooms ------------------------------------------------------------------


@router.get("/rooms", response=answers(schema=schemas.RoomsOut, errors=(400, 401, 403, 503)), tags=["rooms"])
async def rooms(request: HttpRequest) -> HttpResponse:
    """The rooms of `public` the caller may see (private ones only to their members and the
    namespace's moderators), most recently active first, with how many people are online and the
    caller's unread."""
    return await _room_list(user_of(request), PUBLIC)


@router.get("/rooms/{room}/messages", response=MESSAGES_PAGE, tags=["messages"])
async def messages(
    request: HttpRequest,
    room: schemas.RoomName,
    before: int | None = BEFORE,
    after: int | None = AFTER,
    around: int | None = AROUND,
    limit: int | None = LIMIT,
) -> HttpResponse:
    """Without `after`: a page of messages as they are now (`before` an id: older than it; none:
    the newest), oldest first, like the WebSocket's history frame. With `after=N`: the events after
    N of every kind in id order, as the WebSocket resume gives them (with `before=M` too: only
    those below M). With `around=N`: the page around message N (half older, half newer, oldest
    first; `has_newer` says whether newer ones exist beyond it; `before` and `after` are then
    unused), what a search result opens.
    `limit` is capped at PARLEY_HISTORY_PAGE_MAX (also the default)."""
    return await _room_messages(await room_of(user_of(request), PUBLIC, room), before, after, limit, around)


@router.post(
    "/preview", response=answers(schema=schemas.PreviewOut, errors=(400, 401, 403, 413, 429, 503)), tags=["messages"]
)
async def preview(request: HttpRequest, body: schemas.Preview) -> HttpResponse:
    """A text as a message would show it: `{"html"}`, rendered as a post renders it (Markdown,
    sanitized; no mention is marked). Spends one write of the budget. Longer than any namespace
    lets a message be: 413 (as `POST /preview/`: the parser's worst cases cost seconds a megabyte)."""
    user = user_of(request)
    if len(body.message) > schemas.MAX_MESSAGE_CHARS:
        raise ProtocolError(ErrorCode.TOO_LARGE, "the text is too long to preview")
    spend(user)
    html = await asyncio.to_thread(markup.render, body.message)
    return json({"html": html})


@router.post("/rooms/{room}/messages", response=POSTED, tags=["messages"])
async def post_message(
    request: HttpRequest,
    room: schemas.RoomName,
    body: schemas.PostMessage,
    idempotency_key: str | None = IDEMPOTENCY_KEY,
) -> HttpResponse:
    """Post a message (the room is made if it does not exist): 201 with the message frame every
    WebSocket member gets. A `client_id` already stored in the room, through any door: 200 with
    that message as it is now, nothing stored. `Idempotency-Key` is the same as `client_id` (given
    both, the header is the message's client_id)."""
    return await _room_post_in(user_of(request), PUBLIC, room, body, idempotency_key)


@router.patch(
    "/rooms/{room}/messages/{message_id}", response=answers(schema=schemas.MessageState, errors=TEXT), tags=["messages"]
)
async def edit_message(
    request: HttpRequest, room: schemas.RoomName, body: schemas.EditMessage, message_id: int = MSG
) -> HttpResponse:
    """Edit your message (within the namespace's edit window): 200 with the message as it is now;
    the `edit` event goes to every WebSocket member."""
    user = user_of(request)
    return await _message_edit(user, await room_of(user, PUBLIC, room), message_id, body)


@router.delete(
    "/rooms/{room}/messages/{message_id}", response=answers(status=204, schema=None, errors=WRITE), tags=["messages"]
)
async def delete_message(request: HttpRequest, room: schemas.RoomName, message_id: int = MSG) -> HttpResponse:
    """Delete your message (a moderator of the namespace, or staff: anyone's): 204; the `delete`
    event goes to every member."""
    user = user_of(request)
    return await _message_delete(user, await room_of(user, PUBLIC, room), message_id)


@router.post(
    "/rooms/{room}/messages/{message_id}/reactions",
    response=answers(schema=schemas.MessageState, errors=WRITE),
    tags=["messages"],
)
async def react(
    request: HttpRequest, room: schemas.RoomName, body: schemas.ReactionRequest, message_id: int = MSG
) -> HttpResponse:
    """Add or remove your reaction: 200 with the message as it is now (also when nothing changed:
    a reaction you already have, or the removal of one you do not; then no event is sent)."""
    user = user_of(request)
    return await _message_react(user, await room_of(user, PUBLIC, room), message_id, body)


@router.get(
    "/rooms/{room}/messages/{message_id}/thread",
    response=answers(schema=schemas.Thread, errors=LOOKUP),
    tags=["messages"],
)
async def thread(request: HttpRequest, room: schemas.RoomName, message_id: int = MSG) -> HttpResponse:
    """The replies to a message as they are now, oldest first (a deleted or missing message: 404)."""
    return await _message_thread(await room_of(user_of(request), PUBLIC, room), message_id)


@router.post("/rooms/{room}/read", response=answers(schema=schemas.ReadOut, errors=WRITE), tags=["rooms"])
async def read(request: HttpRequest, room: schemas.RoomName, body: schemas.ReadRequest) -> HttpResponse:
    """Move your read cursor forward (never back, never past the room's last id): the cursor now."""
    user = user_of(request)
    return await _room_read(user, await room_of(user, PUBLIC, room), body.up_to)


@router.post("/rooms/{room}/typing", response=TYPED, tags=["rooms"])
async def typing(request: HttpRequest, room: schemas.RoomName) -> HttpResponse:
    """Tell the room you are typing (for clients without a WebSocket, e.g. on the SSE door): every
    member gets a `typing` frame with your name. At most one a second per user and room is passed
    on; extra ones are dropped quietly. No body."""
    user = user_of(request)
    return await _room_typing(user, await room_of(user, PUBLIC, room))


# --- The rooms of any namespace: /ns/<ns>/rooms -------------------------------------------------


@router.get("/ns/{ns}/rooms", response=answers(schema=schemas.RoomsOut, errors=LOOKUP), tags=["namespaces"])
async def ns_rooms(request: HttpRequest, ns: schemas.RoomName) -> HttpResponse:
    """The rooms of the namespace the caller may see, most recently active first."""
    return await _room_list(user_of(request), ns)


@router.get("/ns/{ns}/rooms/{room}/messages", response=MESSAGES_PAGE, tags=["namespaces"])
async def ns_messages(
    request: HttpRequest,
    ns: schemas.RoomName,
    room: schemas.RoomName,
    before: int | None = BEFORE,
    after: int | None = AFTER,
    around: int | None = AROUND,
    limit: int | None = LIMIT,
) -> HttpResponse:
    """As `GET /rooms/{room}/messages`, in a room of the namespace."""
    return await _room_messages(await room_of(user_of(request), ns, room), before, after, limit, around)


@router.post("/ns/{ns}/rooms/{room}/messages", response=POSTED, tags=["namespaces"])
async def ns_post_message(
    request: HttpRequest,
    ns: schemas.RoomName,
    room: schemas.RoomName,
    body: schemas.PostMessage,
    idempotency_key: str | None = IDEMPOTENCY_KEY,
) -> HttpResponse:
    """As `POST /rooms/{room}/messages`; a missing room is made only if the namespace's policy lets
    the caller create rooms (else 404). A muted account: 403 `muted` with `until`."""
    return await _room_post_in(user_of(request), ns, room, body, idempotency_key)


@router.patch(
    "/ns/{ns}/rooms/{room}/messages/{message_id}",
    response=answers(schema=schemas.MessageState, errors=TEXT),
    tags=["namespaces"],
)
async def ns_edit_message(
    request: HttpRequest, ns: schemas.RoomName, room: schemas.RoomName, body: schemas.EditMessage, message_id: int = MSG
) -> HttpResponse:
    """As `PATCH /rooms/{room}/messages/{id}`, within the namespace's `edit_window`."""
    user = user_of(request)
    return await _message_edit(user, await room_of(user, ns, room), message_id, body)


@router.delete(
    "/ns/{ns}/rooms/{room}/messages/{message_id}",
    response=answers(status=204, schema=None, errors=WRITE),
    tags=["namespaces"],
)
async def ns_delete_message(
    request: HttpRequest, ns: schemas.RoomName, room: schemas.RoomName, message_id: int = MSG
) -> HttpResponse:
    """As `DELETE /rooms/{room}/messages/{id}`: the author, or an owner or moderator of the namespace."""
    user = user_of(request)
    return await _message_delete(user, await room_of(user, ns, room), message_id)


@router.post(
    "/ns/{ns}/rooms/{room}/messages/{message_id}/reactions",
    response=answers(schema=schemas.MessageState, errors=WRITE),
    tags=["namespaces"],
)
async def ns_react(
    request: HttpRequest,
    ns: schemas.RoomName,
    room: schemas.RoomName,
    body: schemas.ReactionRequest,
    message_id: int = MSG,
) -> HttpResponse:
    """As `POST /rooms/{room}/messages/{id}/reactions`."""
    user = user_of(request)
    return await _message_react(user, await room_of(user, ns, room), message_id, body)


@router.get(
    "/ns/{ns}/rooms/{room}/messages/{message_id}/thread",
    response=answers(schema=schemas.Thread, errors=LOOKUP),
    tags=["namespaces"],
)
async def ns_thread(
    request: HttpRequest, ns: schemas.RoomName, room: schemas.RoomName, message_id: int = MSG
) -> HttpResponse:
    """As `GET /rooms/{room}/messages/{id}/thread`."""
    return await _message_thread(await room_of(user_of(request), ns, room), message_id)


@router.post("/ns/{ns}/rooms/{room}/read", response=answers(schema=schemas.ReadOut, errors=WRITE), tags=["namespaces"])
async def ns_read(
    request: HttpRequest, ns: schemas.RoomName, room: schemas.RoomName, body: schemas.ReadRequest
) -> HttpResponse:
    """As `POST /rooms/{room}/read`."""
    user = user_of(request)
    return await _room_read(user, await room_of(user, ns, room), body.up_to)


@router.post("/ns/{ns}/rooms/{room}/typing", response=TYPED, tags=["namespaces"])
async def ns_typing(request: HttpRequest, ns: schemas.RoomName, room: schemas.RoomName) -> HttpResponse:
    """As `POST /rooms/{room}/typing`."""
    user = user_of(request)
    return await _room_typing(user, await room_of(user, ns, room))


# --- Rooms of a namespace: creation, members, kicks -----------------------------------------------


@router.post(
    "/ns/{ns}/rooms", response=answers(status=201, schema=schemas.RoomCreated, errors=CREATE), tags=["namespaces"]
)
async def ns_room_create(request: HttpRequest, ns: schemas.RoomName, body: schemas.RoomCreate) -> HttpResponse:
    """Create a room, public or private (its creator its first member), where the policy lets the
    caller create rooms (else 403). A name taken: 409."""
    user, caller, found = await namespace_of(request, ns)
    spend(user)
    made = await db.call(namespaces.room_create, caller, found, body.name, private=body.private)
    return json({"name": made.name, "private": made.private}, status=201)


# --- Direct messages ------------------------------------------------------------------------------


@router.get("/dm", response=answers(schema=schemas.DmsOut, errors=PLAIN), tags=["dm"])
async def dm_list(request: HttpRequest) -> HttpResponse:
    """The caller's direct messages, newest activity first: the other's username, the last id and
    the caller's unread."""
    rows = await reads.read(namespaces.dm_list, caller_of(user_of(request)))
    return json({"dms": [{"username": r["username"], "last_id": r["last_id"], "unread": r["unread"]} for r in rows]})


async def _dm(user: AbstractBaseUser, username: schemas.Username) -> RoomAccess:
    grant, _ = await db.call(namespaces.dm_room, caller_of(user), username)
    return grant


@router.get("/dm/{username}/messages", response=MESSAGES_PAGE, tags=["dm"])
async def dm_messages(
    request: HttpRequest,
    username: schemas.Username,
    before: int | None = BEFORE,
    after: int | None = AFTER,
    around: int | None = AROUND,
    limit: int | None = LIMIT,
) -> HttpResponse:
    """As `GET /rooms/{room}/messages`, in the caller's direct messages with `username` (an unknown
    user: 404)."""
    return await _room_messages(await _dm(user_of(request), username), before, after, limit, around)


@router.post("/dm/{username}/messages", response=POSTED, tags=["dm"])
async def dm_post_message(
    request: HttpRequest,
    username: schemas.Username,
    body: schemas.PostMessage,
    idempotency_key: str | None = IDEMPOTENCY_KEY,
) -> HttpResponse:
    """As `POST /rooms/{room}/messages`, a direct message to `username` (an unknown user: 404)."""
    user = user_of(request)
    return await _room_post(user, body, idempotency_key, await _dm(user, username))


@router.post("/dm/{username}/read", response=answers(schema=schemas.ReadOut, errors=WRITE), tags=["dm"])
async def dm_read(request: HttpRequest, username: schemas.Username, body: schemas.ReadRequest) -> HttpResponse:
    """As `POST /rooms/{room}/read`, in the caller's direct messages with `username`."""
    user = user_of(request)
    return await _room_read(user, await _dm(user, username), body.up_to)


@router.post("/dm/{username}/typing", response=TYPED, tags=["dm"])
async def dm_typing(request: HttpRequest, username: schemas.Username) -> HttpResponse:
    """As `POST /rooms/{room}/typing`, in the caller's direct messages with `username`."""
    user = user_of(request)
    return await _room_typing(user, await _dm(user, username))
