"""What every route of /api/v1 shares: who the caller is, what they may see (``chat.access``),
their write budget, the documented answers and the JSON response."""

from __future__ import annotations

from typing import Any

import orjson
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from ninja import Header, Path, Query

from api import schemas
from api.errors import ERROR_STATUSES
from api.ratelimit import writes
from chat import access, protocol, reads
from chat.access import Caller, NsAccess, RoomAccess
from chat.identity import Identity, is_bot
from chat.protocol import MAX_ID, ErrorCode, ProtocolError

# The error statuses an operation may answer, by what it does. Every route may answer 400 (a bad
# parameter, or a string core.inputs refuses anywhere in the request) and 503 (a backend down);
# every route but the token request needs credentials (401).
PLAIN = (400, 401, 503)  # reads with nothing to look up: /me, /tokens, /dm, /ns
LOOKUP = (400, 401, 403, 404, 503)  # reads of a namespace or a room: hidden or missing 404, banned 403
WRITE = (400, 401, 403, 404, 429, 503)  # writes: a role, a ban, a mute or no CSRF header 403, the budget 429
TEXT = (*WRITE, 409, 413)  # a message: over its namespace's max_message_chars 413, an upload attached elsewhere 409
CREATE = (*WRITE, 409)  # creations and role changes: a name taken, the last owner 409
MODERATE = (*WRITE, 409)  # kicks, mutes and bans: of yourself 409 (of an owner, or a moderator by a moderator: 403)


def answers(
    ok: dict[int, Any] | None = None, *, status: int = 200, schema: Any = None, errors: tuple[int, ...]
) -> dict[int, Any]:
    """An operation's documented responses: its success, and the error statuses it may answer
    (``errors``), in the error shape."""
    assert set(errors) <= set(ERROR_STATUSES), errors
    documented: dict[int, Any] = dict.fromkeys(sorted(errors), schemas.ErrorOut)
    documented.update(ok if ok is not None else {status: schema})
    return documented


def user_of(request: HttpRequest) -> AbstractBaseUser:
    user = request.auth  # type: ignore[attr-defined]  # set by django-ninja from api.auth.Credentials
    assert isinstance(user, AbstractBaseUser)
    return user


def who(user: AbstractBaseUser) -> Identity:
    """How a user speaks in a room: by their username, never a guest."""
    return Identity(
        name=user.get_username(),
        guest=False,
        user_id=user.pk,
        staff=bool(getattr(user, "is_staff", False)),
        bot=is_bot(user),
    )


def spend(user: AbstractBaseUser) -> None:
    """Take one write from the user's budget (``api.ratelimit``), else rate_limited (429)."""
    if not writes.take(user.pk):
        raise ProtocolError(ErrorCode.RATE_LIMITED, "too many writes: slow down", retry_after=writes.wait(user.pk))


def caller_of(user: AbstractBaseUser) -> Caller:
    return Caller(user_id=user.pk, staff=bool(getattr(user, "is_staff", False)), bot=is_bot(user))


def room_name(raw: str) -> str:
    return protocol.check_room_name(raw)


def namespace_for(caller: Caller, ns: str) -> NsAccess:
    """The namespace if the caller may see it (else not_found) and is not banned from it (else
    forbidden): the first check of every route under /ns/<ns> and of the room routes."""
    found = access.access_namespace(caller, ns)
    access.check_not_banned(caller, found)
    return found


def _room(caller: Caller, ns: str, room: str) -> RoomAccess:
    return access.access_room_in(caller, ns, room)


async def namespace_of(request: HttpRequest, ns: str) -> tuple[AbstractBaseUser, Caller, NsAccess]:
    user = user_of(request)
    caller = caller_of(user)
    return user, caller, await reads.read(namespace_for, caller, ns)


async def room_of(user: AbstractBaseUser, ns: str, room: str) -> RoomAccess:
    """The room ``room`` of namespace ``ns`` if the caller may see it, else not_found (404); a
    malformed room name: invalid_room (400), as before namespaces."""
    name = room_name(room)
    return await reads.read(_room, caller_of(user), ns, name)


def json(data: Any, status: int = 200) -> HttpResponse:
    """A JSON response encoded by orjson: pre-encoded events (orjson.Fragment) go in as they are."""
    return HttpResponse(orjson.dumps(data), status=status, content_type="application/json")


PUBLIC = protocol.PUBLIC
MESSAGES_PAGE = answers(schema=schemas.MessagesPage | schemas.EventsPage, errors=LOOKUP)
POSTED = answers({201: schemas.MessageFrame, 200: schemas.MessageState}, errors=TEXT)
MSG = Path(..., ge=1, le=MAX_ID, description="a message's id (the id of the event that posted it)")
BEFORE = Query(None, ge=1, le=MAX_ID, description="only ids below this")
AROUND = Query(
    None,
    ge=1,
    le=MAX_ID,
    description="the page around this id: half older, half newer (before and after are then unused)",
)
AFTER = Query(None, ge=0, le=MAX_ID, description="the events after this id (a resume)")
LIMIT = Query(None, ge=1, le=MAX_ID, description="at most this many (capped at PARLEY_HISTORY_PAGE_MAX)")
IDEMPOTENCY_KEY = Header(
    None, alias="Idempotency-Key", min_length=1, max_length=64, description="the same as the body's client_id"
)
