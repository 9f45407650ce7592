"""The routes of /api/v1. Thin: parse, call chat.actions / chat.selectors (or accounts.tokens),
shape the answer. Refusals are raised (ProtocolError, ApiError) and answered by ``api.errors``."""

from __future__ import annotations

from typing import Any

import orjson
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from ninja import Header, Path, Query, Router

from accounts import tokens
from accounts.models import ApiToken
from chat import actions, db, identity, protocol, pubsub, reads, selectors, services
from chat.identity import Identity
from chat.models import Room
from chat.protocol import MAX_ID, ErrorCode, ProtocolError

from . import schemas
from .auth import password_login
from .errors import ERROR_STATUSES
from .ratelimit import writes

router = Router()


def answers(ok: dict[int, Any] | None = None, *, status: int = 200, schema: Any = None) -> dict[int, Any]:
    """An operation's documented responses: its success and every error status, in the error shape."""
    documented: dict[int, Any] = dict.fromkeys(ERROR_STATUSES, schemas.ErrorOut)
    documented.update(ok if ok is not None else {status: schema})
    return documented


def user_of(request: HttpRequest) -> AbstractBaseUser:
    user = request.auth  # type: ignore[attr-defined]  # set by django-ninja from api.auth.Credentials
    assert isinstance(user, AbstractBaseUser)
    return user


def who(user: AbstractBaseUser) -> Identity:
    """How a user speaks in a room: by their username, never a guest."""
    return Identity(
        name=user.get_username(), guest=False, user_id=user.pk, staff=bool(getattr(user, "is_staff", False))
    )


def spend(user: AbstractBaseUser) -> None:
    """Take one write from the user's budget (``api.ratelimit``), else rate_limited (429)."""
    if not writes.take(user.pk):
        raise ProtocolError(ErrorCode.RATE_LIMITED, "too many writes: slow down")


def room_name(raw: str) -> str:
    return protocol.check_room_name(raw)


async def room_or_404(raw: str) -> Room:
    name = room_name(raw)
    room = await reads.read(selectors.room_get, name=name)
    if room is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no room called {name!r}")
    return room


def json(data: Any, status: int = 200) -> HttpResponse:
    """A JSON response encoded by orjson: pre-encoded events (orjson.Fragment) go in as they are."""
    return HttpResponse(orjson.dumps(data), status=status, content_type="application/json")


def token_out(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "created": protocol.format_ts(token.created),
        "expires": protocol.format_ts(token.expires) if token.expires else None,
        "last_used": protocol.format_ts(token.last_used) if token.last_used else None,
    }


# --- Tokens --------------------------------------------------------------------------------------


@router.post("/tokens", auth=None, response=answers(status=201, schema=schemas.TokenCreated), tags=["tokens"])
async def token_request(request: HttpRequest, body: schemas.TokenRequest) -> HttpResponse:
    """Make a personal token from a username and password. Failed attempts count like failed
    logins (per username and per address); past the limit: 429. The secret is in `token`, once."""
    user = await db.call(password_login, request, body.username, body.password)
    token, secret = await db.call(tokens.token_create, user, body.name, body.expires_in)
    return json({**token_out(token), "token": secret}, status=201)


@router.get("/tokens", response=answers(schema=schemas.TokensOut), tags=["tokens"])
async def token_list(request: HttpRequest) -> HttpResponse:
    """The caller's tokens (not revoked), newest first, without their secrets."""
    rows = await reads.read(tokens.user_tokens, user_of(request))
    return json({"tokens": [token_out(t) for t in rows]})


@router.delete("/tokens/{token_id}", response=answers(status=204, schema=None), tags=["tokens"])
async def token_delete(request: HttpRequest, token_id: int = Path(..., ge=1, le=MAX_ID)) -> HttpResponse:
    """Revoke one of the caller's tokens (another user's, or an unknown id: 404)."""
    if not await db.call(tokens.token_revoke, user_of(request), token_id):
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no token {token_id} of yours")
    return HttpResponse(status=204)


# --- The caller and the rooms -------------------------------------------------------------------


@router.get("/me", response=answers(schema=schemas.MeOut), tags=["rooms"])
async def me(request: HttpRequest) -> HttpResponse:
    """Who the credentials speak as."""
    return json({"username": user_of(request).get_username(), "guest": False})


def _rooms(user_id: int) -> list[dict[str, Any]]:
    rooms = selectors.room_list()
    online = pubsub.online_counts(keys=[protocol.room_key(r.name) for r in rooms])
    unread = selectors.unread_counts(user_id=user_id, room_ids=[r.pk for r in rooms])
    return [
        {
            "name": r.name,
            "last_id": r.last_id,
            "last_activity": protocol.format_ts(r.last_activity),
            "online": online.get(protocol.room_key(r.name), 0),
            "unread": unread.get(r.pk, 0),
        }
        for r in rooms
    ]


@router.get("/rooms", response=answers(schema=schemas.RoomsOut), tags=["rooms"])
async def rooms(request: HttpRequest) -> HttpResponse:
    """Rooms, most recently active first, with how many people are online and the caller's unread."""
    return json({"rooms": await reads.read(_rooms, user_of(request).pk)})


def _history(room: Room, before: int | None, limit: int) -> dict[str, Any]:
    messages, has_more = selectors.history_before(
        room_id=room.pk, room=room.name, before=before if before is not None else MAX_ID, limit=limit
    )
    return {"messages": messages, "has_more": has_more}


def _events(room: Room, after: int, limit: int) -> dict[str, Any]:
    last_id = selectors.room_last_id(room_id=room.pk)
    events = selectors.events_after(room_id=room.pk, after=after, until=last_id, limit=limit + 1)
    return {"events": events[:limit], "has_more": len(events) > limit}


@router.get(
    "/rooms/{room}/messages",
    response=answers(schema=schemas.MessagesPage | schemas.EventsPage),
    tags=["messages"],
)
async def messages(
    request: HttpRequest,
    room: str,
    before: int | None = Query(None, ge=1, le=MAX_ID),
    after: int | None = Query(None, ge=0, le=MAX_ID),
    limit: int | None = Query(None, ge=1, le=MAX_ID),
) -> HttpResponse:
    """Without `after`: a page of messages as they are now (`before` an id: older than it; none:
    the newest), oldest first, like the WebSocket's history frame. With `after=N`: the events after
    N of every kind in id order, as the WebSocket resume gives them. `limit` is capped at
    PARLEY_HISTORY_PAGE_MAX (also the default)."""
    if before is not None and after is not None:
        raise ProtocolError(ErrorCode.INVALID_FRAME, "give 'before' or 'after', not both")
    user_of(request)
    found = await room_or_404(room)
    page_max = settings.PARLEY_HISTORY_PAGE_MAX
    size = min(limit or page_max, page_max)
    if after is not None:
        return json(await reads.read(_events, found, after, size))
    return json(await reads.read(_history, found, before, size))


@router.post(
    "/rooms/{room}/messages",
    response=answers({201: schemas.MessageFrame, 200: schemas.MessageState}),
    tags=["messages"],
)
async def post_message(
    request: HttpRequest,
    room: str,
    body: schemas.PostMessage,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", min_length=1, max_length=64),
) -> HttpResponse:
    """Post a message (the room is made if it does not exist): 201 with the message frame every
    WebSocket member gets. A `client_id` already stored in the room, through any door: 200 with
    that message as it is now, nothing stored. `Idempotency-Key` is the same as `client_id`."""
    user = user_of(request)
    name = room_name(room)
    client_id = body.client_id
    if idempotency_key is not None:
        if client_id is not None and client_id != idempotency_key:
            raise ProtocolError(ErrorCode.INVALID_FRAME, "'client_id' and Idempotency-Key differ")
        client_id = idempotency_key
    if client_id is not None and protocol.has_control(client_id):
        raise ProtocolError(ErrorCode.INVALID_FRAME, "'client_id' must not hold control characters")
    text = protocol.check_message(body.message, identity.limits())
    spend(user)
    found = await db.call(services.room_get_or_create, address=name)
    outcome = await actions.do_send_message(
        room=found, who=who(user), text=text, client_id=client_id, reply_to=body.reply_to
    )
    if outcome.created and outcome.text is not None:
        return HttpResponse(outcome.text, status=201, content_type="application/json")
    return json(await reads.read(selectors.message_now, room=found, seq=outcome.seq))


@router.patch("/rooms/{room}/messages/{message_id}", response=answers(schema=schemas.MessageState), tags=["messages"])
async def edit_message(
    request: HttpRequest, room: str, body: schemas.EditMessage, message_id: int = Path(..., ge=1, le=MAX_ID)
) -> HttpResponse:
    """Edit your message (within PARLEY_EDIT_WINDOW): 200 with the message as it is now; the
    `edit` event goes to every WebSocket member."""
    user = user_of(request)
    found = await room_or_404(room)
    text = protocol.check_message(body.message, identity.limits())
    spend(user)
    await actions.do_edit(room=found, who=who(user), target=message_id, text=text, edit_window=settings.PARLEY_EDIT_WINDOW)
    return json(await reads.read(selectors.message_now, room=found, seq=message_id))


@router.delete("/rooms/{room}/messages/{message_id}", response=answers(status=204, schema=None), tags=["messages"])
async def delete_message(request: HttpRequest, room: str, message_id: int = Path(..., ge=1, le=MAX_ID)) -> HttpResponse:
    """Delete your message (staff: anyone's): 204; the `delete` event goes to every member."""
    user = user_of(request)
    found = await room_or_404(room)
    spend(user)
    await actions.do_delete(room=found, who=who(user), target=message_id, moderator=who(user).staff)
    return HttpResponse(status=204)


@router.post(
    "/rooms/{room}/messages/{message_id}/reactions", response=answers(schema=schemas.MessageState), tags=["messages"]
)
async def react(
    request: HttpRequest, room: str, body: schemas.ReactionRequest, message_id: int = Path(..., ge=1, le=MAX_ID)
) -> HttpResponse:
    """Add or remove your reaction: 200 with the message as it is now (also when nothing changed:
    a reaction you already have, or the removal of one you do not; then no event is sent)."""
    user = user_of(request)
    found = await room_or_404(room)
    emoji = protocol.check_emoji(body.emoji)
    spend(user)
    await actions.do_react(room=found, who=who(user), target=message_id, emoji=emoji, add=body.op == "add")
    return json(await reads.read(selectors.message_now, room=found, seq=message_id))


@router.get("/rooms/{room}/messages/{message_id}/thread", response=answers(schema=schemas.Thread), tags=["messages"])
async def thread(request: HttpRequest, room: str, message_id: int = Path(..., ge=1, le=MAX_ID)) -> HttpResponse:
    """The replies to a message as they are now, oldest first (a deleted or missing message: 404)."""
    user_of(request)
    found = await room_or_404(room)
    replies, _ = await reads.read(selectors.thread, room_id=found.pk, room=found.name, target=message_id)
    if replies is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no message {message_id} in this room")
    return json({"target": message_id, "messages": replies})


@router.post("/rooms/{room}/read", response=answers(schema=schemas.ReadOut), tags=["rooms"])
async def read(request: HttpRequest, room: str, body: schemas.ReadRequest) -> HttpResponse:
    """Move your read cursor forward (never back, never past the room's last id): the cursor now."""
    user = user_of(request)
    found = await room_or_404(room)
    spend(user)
    up_to = await actions.do_read(room=found, who=who(user), up_to=body.up_to)
    return json({"up_to": up_to})
