"""The routes of /api/v1. Thin: parse, resolve what the caller may see (``chat.access``), call
chat.actions / chat.moderation / chat.namespaces / chat.selectors (or accounts.tokens), shape the
answer. Refusals are raised (ProtocolError, ApiError) and answered by ``api.errors``.

The room routes exist twice, ``/rooms/<room>/...`` (the ``public`` namespace) and
``/ns/<ns>/rooms/<room>/...`` (any namespace), and share one implementation (``_room_*``): the
route only says which namespace. Direct messages (``/dm/<username>/messages``) use it too."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from ninja import Header, Path, Query, Router

from accounts import tokens
from accounts.models import ApiToken
from chat import access, actions, db, moderation, namespaces, policy, protocol, pubsub, reads, selectors
from chat.access import Caller, NsAccess, RoomAccess
from chat.identity import Identity
from chat.models import Room, Sanction
from chat.policy import Policy
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


def caller_of(user: AbstractBaseUser) -> Caller:
    return Caller(user_id=user.pk, staff=bool(getattr(user, "is_staff", False)))


def room_name(raw: str) -> str:
    return protocol.check_room_name(raw)


def _namespace(caller: Caller, ns: str) -> NsAccess:
    """The namespace if the caller may see it (else not_found) and is not banned from it (else
    forbidden): the first check of every route under /ns/<ns> and of the room routes."""
    found = access.access_namespace(caller, ns)
    access.check_not_banned(caller, found)
    return found


def _room(caller: Caller, ns: str, room: str) -> RoomAccess:
    return access.access_room(caller, _namespace(caller, ns), room)


async def namespace_of(request: HttpRequest, ns: str) -> tuple[AbstractBaseUser, Caller, NsAccess]:
    user = user_of(request)
    caller = caller_of(user)
    return user, caller, await reads.read(_namespace, caller, ns)


async def room_of(user: AbstractBaseUser, ns: str, room: str) -> RoomAccess:
    """The room ``room`` of namespace ``ns`` if the caller may see it, else not_found (404); a
    malformed room name: invalid_room (400), as before namespaces."""
    name = room_name(room)
    return await reads.read(_room, caller_of(user), ns, name)


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


def _rooms(caller: Caller, ns: str) -> list[dict[str, Any]]:
    rooms = access.visible_rooms(caller, _namespace(caller, ns))
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


def _events(room: Room, after: int, limit: int) -> dict[str, Any]:
    last_id = selectors.room_last_id(room_id=room.pk)
    events = selectors.events_after(room_id=room.pk, after=after, until=last_id, limit=limit + 1)
    return {"events": events[:limit], "has_more": len(events) > limit}


# The shared implementation of the room routes: each takes the caller and the room as the caller
# may see it (or, for a post, how to find or make it), whichever prefix the route has.


async def _room_list(user: AbstractBaseUser, ns: str) -> HttpResponse:
    return json({"rooms": await reads.read(_rooms, caller_of(user), ns)})


async def _room_messages(grant: RoomAccess, before: int | None, after: int | None, limit: int | None) -> HttpResponse:
    if before is not None and after is not None:
        raise ProtocolError(ErrorCode.INVALID_FRAME, "give 'before' or 'after', not both")
    page_max = settings.PARLEY_HISTORY_PAGE_MAX
    size = min(limit or page_max, page_max)
    if after is not None:
        return json(await reads.read(_events, grant.room, after, size))
    return json(await reads.read(_history, grant.room, before, size))


async def _room_post(
    user: AbstractBaseUser,
    body: schemas.PostMessage,
    idempotency_key: str | None,
    rules: Policy,
    find: Callable[[], Awaitable[RoomAccess]],
) -> HttpResponse:
    """Post into the room ``find`` gives (found, or made where the policy lets the caller), by
    the namespace's ``rules``."""
    client_id = body.client_id
    if idempotency_key is not None:
        if client_id is not None and client_id != idempotency_key:
            raise ProtocolError(ErrorCode.INVALID_FRAME, "'client_id' and Idempotency-Key differ")
        client_id = idempotency_key
    if client_id is not None and protocol.has_control(client_id):
        raise ProtocolError(ErrorCode.INVALID_FRAME, "'client_id' must not hold control characters")
    text = protocol.check_message(body.message, rules.limits())
    spend(user)
    grant = await find()
    outcome = await actions.do_send_message(
        room=grant.room, who=who(user), text=text, client_id=client_id, reply_to=body.reply_to
    )
    if outcome.created and outcome.text is not None:
        return HttpResponse(outcome.text, status=201, content_type="application/json")
    return json(await reads.read(selectors.message_now, room=grant.room, seq=outcome.seq))


async def _room_post_in(
    user: AbstractBaseUser, ns: str, room: str, body: schemas.PostMessage, idempotency_key: str | None
) -> HttpResponse:
    """A post to a room of a namespace: a missing room is made if the caller may create rooms
    there (``access.access_join``), else 404."""
    name = room_name(room)
    caller = caller_of(user)
    found = await reads.read(_namespace, caller, ns)

    async def find() -> RoomAccess:
        return await db.call(access.access_join, caller, ns, name)

    return await _room_post(user, body, idempotency_key, found.policy, find)


async def _message_edit(user: AbstractBaseUser, grant: RoomAccess, message_id: int, message: str) -> HttpResponse:
    text = protocol.check_message(message, grant.policy.limits())
    spend(user)
    await actions.do_edit(
        room=grant.room, who=who(user), target=message_id, text=text, edit_window=grant.policy.edit_window
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


# --- The rooms of public: /rooms ------------------------------------------------------------------

PUBLIC = protocol.PUBLIC
MESSAGES_PAGE = answers(schema=schemas.MessagesPage | schemas.EventsPage)
POSTED = answers({201: schemas.MessageFrame, 200: schemas.MessageState})
MSG = Path(..., ge=1, le=MAX_ID)
BEFORE = Query(None, ge=1, le=MAX_ID)
AFTER = Query(None, ge=0, le=MAX_ID)
LIMIT = Query(None, ge=1, le=MAX_ID)
IDEMPOTENCY_KEY = Header(None, alias="Idempotency-Key", min_length=1, max_length=64)


@router.get("/rooms", response=answers(schema=schemas.RoomsOut), tags=["rooms"])
async def rooms(request: HttpRequest) -> HttpResponse:
    """The rooms of `public` the caller may see (private ones only to their members and the
    namespace's moderators), most recently active first, with how many people are online and the
    caller's unread."""
    return await _room_list(user_of(request), PUBLIC)


@router.get("/rooms/{room}/messages", response=MESSAGES_PAGE, tags=["messages"])
async def messages(
    request: HttpRequest,
    room: str,
    before: int | None = BEFORE,
    after: int | None = AFTER,
    limit: int | None = LIMIT,
) -> HttpResponse:
    """Without `after`: a page of messages as they are now (`before` an id: older than it; none:
    the newest), oldest first, like the WebSocket's history frame. With `after=N`: the events after
    N of every kind in id order, as the WebSocket resume gives them. `limit` is capped at
    PARLEY_HISTORY_PAGE_MAX (also the default)."""
    return await _room_messages(await room_of(user_of(request), PUBLIC, room), before, after, limit)


@router.post("/rooms/{room}/messages", response=POSTED, tags=["messages"])
async def post_message(
    request: HttpRequest, room: str, body: schemas.PostMessage, idempotency_key: str | None = IDEMPOTENCY_KEY
) -> HttpResponse:
    """Post a message (the room is made if it does not exist): 201 with the message frame every
    WebSocket member gets. A `client_id` already stored in the room, through any door: 200 with
    that message as it is now, nothing stored. `Idempotency-Key` is the same as `client_id`."""
    return await _room_post_in(user_of(request), PUBLIC, room, body, idempotency_key)


@router.patch("/rooms/{room}/messages/{message_id}", response=answers(schema=schemas.MessageState), tags=["messages"])
async def edit_message(
    request: HttpRequest, room: str, body: schemas.EditMessage, message_id: int = MSG
) -> HttpResponse:
    """Edit your message (within the namespace's edit window): 200 with the message as it is now;
    the `edit` event goes to every WebSocket member."""
    user = user_of(request)
    return await _message_edit(user, await room_of(user, PUBLIC, room), message_id, body.message)


@router.delete("/rooms/{room}/messages/{message_id}", response=answers(status=204, schema=None), tags=["messages"])
async def delete_message(request: HttpRequest, room: str, message_id: int = MSG) -> HttpResponse:
    """Delete your message (a moderator of the namespace, or staff: anyone's): 204; the `delete`
    event goes to every member."""
    user = user_of(request)
    return await _message_delete(user, await room_of(user, PUBLIC, room), message_id)


@router.post(
    "/rooms/{room}/messages/{message_id}/reactions", response=answers(schema=schemas.MessageState), tags=["messages"]
)
async def react(request: HttpRequest, room: str, body: schemas.ReactionRequest, message_id: int = MSG) -> HttpResponse:
    """Add or remove your reaction: 200 with the message as it is now (also when nothing changed:
    a reaction you already have, or the removal of one you do not; then no event is sent)."""
    user = user_of(request)
    return await _message_react(user, await room_of(user, PUBLIC, room), message_id, body)


@router.get("/rooms/{room}/messages/{message_id}/thread", response=answers(schema=schemas.Thread), tags=["messages"])
async def thread(request: HttpRequest, room: str, message_id: int = MSG) -> HttpResponse:
    """The replies to a message as they are now, oldest first (a deleted or missing message: 404)."""
    return await _message_thread(await room_of(user_of(request), PUBLIC, room), message_id)


@router.post("/rooms/{room}/read", response=answers(schema=schemas.ReadOut), tags=["rooms"])
async def read(request: HttpRequest, room: str, body: schemas.ReadRequest) -> HttpResponse:
    """Move your read cursor forward (never back, never past the room's last id): the cursor now."""
    user = user_of(request)
    return await _room_read(user, await room_of(user, PUBLIC, room), body.up_to)


# --- The rooms of any namespace: /ns/<ns>/rooms -------------------------------------------------


@router.get("/ns/{ns}/rooms", response=answers(schema=schemas.RoomsOut), tags=["namespaces"])
async def ns_rooms(request: HttpRequest, ns: str) -> HttpResponse:
    """The rooms of the namespace the caller may see, most recently active first."""
    return await _room_list(user_of(request), ns)


@router.get("/ns/{ns}/rooms/{room}/messages", response=MESSAGES_PAGE, tags=["namespaces"])
async def ns_messages(
    request: HttpRequest,
    ns: str,
    room: str,
    before: int | None = BEFORE,
    after: int | None = AFTER,
    limit: int | None = LIMIT,
) -> HttpResponse:
    """As `GET /rooms/{room}/messages`, in a room of the namespace."""
    return await _room_messages(await room_of(user_of(request), ns, room), before, after, limit)


@router.post("/ns/{ns}/rooms/{room}/messages", response=POSTED, tags=["namespaces"])
async def ns_post_message(
    request: HttpRequest,
    ns: str,
    room: str,
    body: schemas.PostMessage,
    idempotency_key: str | None = IDEMPOTENCY_KEY,
) -> HttpResponse:
    """As `POST /rooms/{room}/messages`; a missing room is made only if the namespace's policy lets
    the caller create rooms (else 404). A muted account: 403 `muted` with `until`."""
    return await _room_post_in(user_of(request), ns, room, body, idempotency_key)


@router.patch(
    "/ns/{ns}/rooms/{room}/messages/{message_id}", response=answers(schema=schemas.MessageState), tags=["namespaces"]
)
async def ns_edit_message(
    request: HttpRequest, ns: str, room: str, body: schemas.EditMessage, message_id: int = MSG
) -> HttpResponse:
    """As `PATCH /rooms/{room}/messages/{id}`, within the namespace's `edit_window`."""
    user = user_of(request)
    return await _message_edit(user, await room_of(user, ns, room), message_id, body.message)


@router.delete(
    "/ns/{ns}/rooms/{room}/messages/{message_id}", response=answers(status=204, schema=None), tags=["namespaces"]
)
async def ns_delete_message(request: HttpRequest, ns: str, room: str, message_id: int = MSG) -> HttpResponse:
    """As `DELETE /rooms/{room}/messages/{id}`: the author, or an owner or moderator of the namespace."""
    user = user_of(request)
    return await _message_delete(user, await room_of(user, ns, room), message_id)


@router.post(
    "/ns/{ns}/rooms/{room}/messages/{message_id}/reactions",
    response=answers(schema=schemas.MessageState),
    tags=["namespaces"],
)
async def ns_react(
    request: HttpRequest, ns: str, room: str, body: schemas.ReactionRequest, message_id: int = MSG
) -> HttpResponse:
    """As `POST /rooms/{room}/messages/{id}/reactions`."""
    user = user_of(request)
    return await _message_react(user, await room_of(user, ns, room), message_id, body)


@router.get(
    "/ns/{ns}/rooms/{room}/messages/{message_id}/thread", response=answers(schema=schemas.Thread), tags=["namespaces"]
)
async def ns_thread(request: HttpRequest, ns: str, room: str, message_id: int = MSG) -> HttpResponse:
    """As `GET /rooms/{room}/messages/{id}/thread`."""
    return await _message_thread(await room_of(user_of(request), ns, room), message_id)


@router.post("/ns/{ns}/rooms/{room}/read", response=answers(schema=schemas.ReadOut), tags=["namespaces"])
async def ns_read(request: HttpRequest, ns: str, room: str, body: schemas.ReadRequest) -> HttpResponse:
    """As `POST /rooms/{room}/read`."""
    user = user_of(request)
    return await _room_read(user, await room_of(user, ns, room), body.up_to)


# --- Namespaces -----------------------------------------------------------------------------------


def namespace_out(ns: NsAccess) -> dict[str, Any]:
    return {"name": ns.namespace.name, **ns.policy.fields(), "role": ns.role}


@router.get("/ns", response=answers(schema=schemas.NamespacesOut), tags=["namespaces"])
async def ns_list(request: HttpRequest) -> HttpResponse:
    """The namespaces the caller may see (`public` first, then by name), with the caller's role."""
    found = await reads.read(access.visible_namespaces, caller_of(user_of(request)))
    return json({"namespaces": [namespace_out(ns) for ns in found]})


@router.post("/ns", response=answers(status=201, schema=schemas.NamespaceOut), tags=["namespaces"])
async def ns_create(request: HttpRequest, body: schemas.NamespaceCreate) -> HttpResponse:
    """Create a namespace, the caller its owner. A name taken: 409 `conflict`."""
    user = user_of(request)
    spend(user)
    fields = body.model_dump(exclude={"name"})
    made = await db.call(namespaces.ns_create, caller_of(user), body.name, fields)
    return json(namespace_out(made), status=201)


@router.get("/ns/{ns}", response=answers(schema=schemas.NamespaceOut), tags=["namespaces"])
async def ns_get(request: HttpRequest, ns: str) -> HttpResponse:
    """The namespace: its policy and the caller's role."""
    _, _, found = await namespace_of(request, ns)
    return json(namespace_out(found))


@router.patch("/ns/{ns}", response=answers(schema=schemas.NamespaceOut), tags=["namespaces"])
async def ns_update(request: HttpRequest, ns: str, body: schemas.PolicyPatch) -> HttpResponse:
    """Change policy fields (owners); an override set to null falls back to the server's setting.
    A switch to `members` closes outsiders' connections."""
    user, caller, found = await namespace_of(request, ns)
    found.require_owner()
    spend(user)
    updated = await moderation.do_ns_update(caller, found, body.model_dump(exclude_unset=True))
    return json(namespace_out(updated))


@router.get("/ns/{ns}/members", response=answers(schema=schemas.MembersOut), tags=["namespaces"])
async def ns_members(request: HttpRequest, ns: str) -> HttpResponse:
    """The namespace's members and their roles, by username."""
    _, _, found = await namespace_of(request, ns)
    return json({"members": await reads.read(namespaces.members, found)})


@router.post(
    "/ns/{ns}/members",
    response=answers({201: schemas.MemberOut, 200: schemas.MemberOut}),
    tags=["namespaces"],
)
async def ns_member_set(request: HttpRequest, ns: str, body: schemas.MemberSet) -> HttpResponse:
    """Add a member (201) or change a member's role (200). Owners grant any role; moderators add
    members (role `member`) only."""
    user, caller, found = await namespace_of(request, ns)
    found.require_moderator()
    if body.role != "member":
        found.require_owner()
    spend(user)
    added, role = await moderation.do_member_set(caller, found, body.username, body.role)
    return json({"username": body.username, "role": role}, status=201 if added else 200)


@router.delete("/ns/{ns}/members/{username}", response=answers(status=204, schema=None), tags=["namespaces"])
async def ns_member_remove(request: HttpRequest, ns: str, username: str) -> HttpResponse:
    """Remove a member (owners: anyone; moderators: members; anyone: themselves). The last owner
    cannot leave: 409."""
    user, caller, found = await namespace_of(request, ns)
    if username != user.get_username():
        found.require_moderator()
    spend(user)
    await moderation.do_member_remove(caller, found, username)
    return HttpResponse(status=204)


# --- Invites ---------------------------------------------------------------------------------------


def _invite_create(caller: Caller, ns: NsAccess, expires_in: int | None, max_uses: int | None) -> dict[str, str]:
    invite = namespaces.invite_create(caller, ns, expires_in=expires_in, max_uses=max_uses)
    return {"code": invite.code, "url": namespaces.invite_url(invite)}


@router.post("/ns/{ns}/invites", response=answers(status=201, schema=schemas.InviteOut), tags=["namespaces"])
async def invite_create(request: HttpRequest, ns: str, body: schemas.InviteCreate) -> HttpResponse:
    """A new invite (owners and moderators): its code and the join page's path."""
    user, caller, found = await namespace_of(request, ns)
    found.require_moderator()
    spend(user)
    return json(await db.call(_invite_create, caller, found, body.expires_in, body.max_uses), status=201)


@router.delete("/ns/{ns}/invites/{code}", response=answers(status=204, schema=None), tags=["namespaces"])
async def invite_revoke(request: HttpRequest, ns: str, code: str) -> HttpResponse:
    """Revoke an invite (owners and moderators); one unknown or already revoked: 404."""
    user, caller, found = await namespace_of(request, ns)
    found.require_moderator()
    spend(user)
    await db.call(namespaces.invite_revoke, caller, found, code)
    return HttpResponse(status=204)


def _join(caller: Caller, ns: str, code: str) -> NsAccess:
    """Redeem an invite. The code is checked first, so an outsider of a `members` namespace with a
    good code may join; a wrong, used-up, expired or revoked one is not_found, like a hidden namespace."""
    try:
        name = protocol.check_room_name(ns)
    except ProtocolError:
        raise access.not_found("invite") from None
    invite = namespaces.invite_valid(name, code)
    access.check_not_banned(
        caller, NsAccess(namespace=invite.namespace, policy=policy.resolve(invite.namespace), role=None)
    )
    return namespaces.invite_redeem(caller, name, code)


@router.post("/ns/{ns}/join", response=answers(schema=schemas.NamespaceOut), tags=["namespaces"])
async def ns_join(request: HttpRequest, ns: str, body: schemas.JoinRequest) -> HttpResponse:
    """Join the namespace with an invite code: 200 with the namespace (a member already: nothing
    changes). A wrong, used-up, expired or revoked code: 404."""
    user = user_of(request)
    spend(user)
    return json(namespace_out(await db.call(_join, caller_of(user), ns, body.code)))


# --- Rooms of a namespace: creation, members, kicks -----------------------------------------------


@router.post("/ns/{ns}/rooms", response=answers(status=201, schema=schemas.RoomCreated), tags=["namespaces"])
async def ns_room_create(request: HttpRequest, ns: str, body: schemas.RoomCreate) -> HttpResponse:
    """Create a room, public or private (its creator its first member), where the policy lets the
    caller create rooms (else 403). A name taken: 409."""
    user, caller, found = await namespace_of(request, ns)
    spend(user)
    made = await db.call(namespaces.room_create, caller, found, body.name, private=body.private)
    return json({"name": made.name, "private": made.private}, status=201)


def _may_manage_room(caller: Caller, grant: RoomAccess) -> None:
    if grant.moderator or (caller.user_id is not None and grant.room.created_by_id == caller.user_id):
        return
    raise ProtocolError(ErrorCode.FORBIDDEN, "only the room's creator, a moderator or an owner may do this")


@router.post(
    "/ns/{ns}/rooms/{room}/members",
    response=answers({201: schemas.UsernameOut, 200: schemas.UsernameOut}),
    tags=["namespaces"],
)
async def ns_room_member_add(request: HttpRequest, ns: str, room: str, body: schemas.UsernameIn) -> HttpResponse:
    """Add a member to a private room (its creator, moderators, owners): 201, or 200 if they
    already were one. A room that is not private: 400."""
    user = user_of(request)
    caller = caller_of(user)
    grant = await room_of(user, ns, room)
    _may_manage_room(caller, grant)
    spend(user)
    added = await db.call(namespaces.room_member_add, caller, grant, body.username)
    return json({"username": body.username}, status=201 if added else 200)


@router.delete(
    "/ns/{ns}/rooms/{room}/members/{username}", response=answers(status=204, schema=None), tags=["namespaces"]
)
async def ns_room_member_remove(request: HttpRequest, ns: str, room: str, username: str) -> HttpResponse:
    """Remove a member of a private room (its creator, moderators, owners; anyone: themselves);
    their connections to it close."""
    user = user_of(request)
    caller = caller_of(user)
    grant = await room_of(user, ns, room)
    if username != user.get_username():
        _may_manage_room(caller, grant)
    spend(user)
    await moderation.do_room_member_remove(caller, grant, username)
    return HttpResponse(status=204)


@router.post("/ns/{ns}/rooms/{room}/kick", response=answers(schema=schemas.KickOut), tags=["namespaces"])
async def ns_kick(request: HttpRequest, ns: str, room: str, body: schemas.KickRequest) -> HttpResponse:
    """Close every connection of a user (`username`) or a guest (`guest`, their display name) to the
    room (owners and moderators). They may rejoin a public room; a private room's member is removed."""
    user, caller, found = await namespace_of(request, ns)
    found.require_moderator()
    if (body.username is None) == (body.guest is None):
        raise ProtocolError(ErrorCode.INVALID_FRAME, "give 'username' or 'guest'")
    grant = await reads.read(access.access_room, caller, found, room_name(room))
    spend(user)
    await moderation.do_kick(caller, grant, username=body.username, guest=body.guest, reason=body.reason)
    return json({"username": body.username, "guest": body.guest})


# --- Mutes, bans, the audit log ------------------------------------------------------------------


def sanction_out(row: Sanction, username: str) -> dict[str, Any]:
    return {
        "username": username,
        "kind": row.kind,
        "until": protocol.format_ts(row.until) if row.until else None,
        "reason": row.reason,
    }


async def _sanction(request: HttpRequest, ns: str, kind: str, body: schemas.SanctionRequest) -> HttpResponse:
    user, caller, found = await namespace_of(request, ns)
    found.require_moderator()
    spend(user)
    do = moderation.do_mute if kind == Sanction.Kind.MUTE else moderation.do_ban
    row = await do(caller, found, body.username, seconds=body.seconds, reason=body.reason)
    return json(sanction_out(row, body.username), status=201)


async def _lift(request: HttpRequest, ns: str, kind: str, username: str) -> HttpResponse:
    user, caller, found = await namespace_of(request, ns)
    found.require_moderator()
    spend(user)
    await moderation.do_lift(caller, found, kind, username)
    return HttpResponse(status=204)


@router.post("/ns/{ns}/mutes", response=answers(status=201, schema=schemas.SanctionOut), tags=["namespaces"])
async def ns_mute(request: HttpRequest, ns: str, body: schemas.SanctionRequest) -> HttpResponse:
    """Mute an account in the namespace (owners and moderators), for `seconds` or until lifted; a
    member or not. Its posts, edits and reactions are refused: 403 `muted` with `until`."""
    return await _sanction(request, ns, Sanction.Kind.MUTE, body)


@router.delete("/ns/{ns}/mutes/{username}", response=answers(status=204, schema=None), tags=["namespaces"])
async def ns_unmute(request: HttpRequest, ns: str, username: str) -> HttpResponse:
    """Lift a mute (none in force: 404)."""
    return await _lift(request, ns, Sanction.Kind.MUTE, username)


@router.post("/ns/{ns}/bans", response=answers(status=201, schema=schemas.SanctionOut), tags=["namespaces"])
async def ns_ban(request: HttpRequest, ns: str, body: schemas.SanctionRequest) -> HttpResponse:
    """Ban an account from the namespace (owners and moderators), for `seconds` or until lifted; a
    member or not. Its connections there close, and everything in the namespace answers it 403."""
    return await _sanction(request, ns, Sanction.Kind.BAN, body)


@router.delete("/ns/{ns}/bans/{username}", response=answers(status=204, schema=None), tags=["namespaces"])
async def ns_unban(request: HttpRequest, ns: str, username: str) -> HttpResponse:
    """Lift a ban (none in force: 404)."""
    return await _lift(request, ns, Sanction.Kind.BAN, username)


@router.get("/ns/{ns}/audit", response=answers(schema=schemas.AuditOut), tags=["namespaces"])
async def ns_audit(request: HttpRequest, ns: str, limit: int = Query(100, ge=1, le=1000)) -> HttpResponse:
    """The audit log, newest first (owners and moderators)."""
    _, _, found = await namespace_of(request, ns)
    found.require_moderator()
    return json({"entries": await reads.read(namespaces.audit_entries, found, limit=limit)})


# --- Direct messages ------------------------------------------------------------------------------


@router.get("/dm", response=answers(schema=schemas.DmsOut), tags=["dm"])
async def dm_list(request: HttpRequest) -> HttpResponse:
    """The caller's direct messages, newest activity first: the other's username, the last id and
    the caller's unread."""
    rows = await reads.read(namespaces.dm_list, caller_of(user_of(request)))
    return json({"dms": [{"username": r["username"], "last_id": r["last_id"], "unread": r["unread"]} for r in rows]})


async def _dm(user: AbstractBaseUser, username: str) -> RoomAccess:
    grant, _ = await db.call(namespaces.dm_room, caller_of(user), username)
    return grant


@router.get("/dm/{username}/messages", response=MESSAGES_PAGE, tags=["dm"])
async def dm_messages(
    request: HttpRequest,
    username: str,
    before: int | None = BEFORE,
    after: int | None = AFTER,
    limit: int | None = LIMIT,
) -> HttpResponse:
    """As `GET /rooms/{room}/messages`, in the caller's direct messages with `username` (an unknown
    user: 404)."""
    return await _room_messages(await _dm(user_of(request), username), before, after, limit)


@router.post("/dm/{username}/messages", response=POSTED, tags=["dm"])
async def dm_post_message(
    request: HttpRequest, username: str, body: schemas.PostMessage, idempotency_key: str | None = IDEMPOTENCY_KEY
) -> HttpResponse:
    """As `POST /rooms/{room}/messages`, a direct message to `username` (an unknown user: 404)."""
    user = user_of(request)
    grant = await _dm(user, username)

    async def find() -> RoomAccess:
        return grant

    return await _room_post(user, body, idempotency_key, grant.policy, find)
