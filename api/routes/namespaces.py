"""Namespaces (``/ns``, ``/ns/<ns>``), their members, invites and joins, private rooms' members,
kicks, mutes, bans and the audit log. Kicks, bans, removals and policy changes go through
``chat.moderation``, which tells every process after the commit."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router

from api import schemas
from api.routes.common import (
    CREATE,
    LOOKUP,
    MODERATE,
    PLAIN,
    WRITE,
    answers,
    caller_of,
    json,
    namespace_of,
    room_name,
    room_of,
    spend,
    user_of,
)
from chat import access, db, moderation, namespaces, policy, protocol, reads
from chat.access import Caller, NsAccess, RoomAccess
from chat.models import Sanction
from chat.protocol import ErrorCode, ProtocolError

router = Router()


# --- Namespaces -----------------------------------------------------------------------------------


def namespace_out(ns: NsAccess) -> dict[str, Any]:
    return {"name": ns.namespace.name, **ns.policy.fields(), "role": ns.role}


@router.get("/ns", response=answers(schema=schemas.NamespacesOut, errors=PLAIN), tags=["namespaces"])
async def ns_list(request: HttpRequest) -> HttpResponse:
    """The namespaces the caller may see (`public` first, then by name), with the caller's role."""
    found = await reads.read(access.visible_namespaces, caller_of(user_of(request)))
    return json({"namespaces": [namespace_out(ns) for ns in found]})


@router.post(
    "/ns",
    response=answers(status=201, schema=schemas.NamespaceOut, errors=(400, 401, 403, 409, 429, 503)),
    tags=["namespaces"],
)
async def ns_create(request: HttpRequest, body: schemas.NamespaceCreate) -> HttpResponse:
    """Create a namespace, the caller its owner. A name taken: 409 `conflict`."""
    user = user_of(request)
    spend(user)
    fields = body.model_dump(exclude={"name"})
    made = await db.call(namespaces.ns_create, caller_of(user), body.name, fields)
    return json(namespace_out(made), status=201)


@router.get("/ns/{ns}", response=answers(schema=schemas.NamespaceOut, errors=LOOKUP), tags=["namespaces"])
async def ns_get(request: HttpRequest, ns: schemas.RoomName) -> HttpResponse:
    """The namespace: its policy and the caller's role."""
    _, _, found = await namespace_of(request, ns)
    return json(namespace_out(found))


@router.patch("/ns/{ns}", response=answers(schema=schemas.NamespaceOut, errors=WRITE), tags=["namespaces"])
async def ns_update(request: HttpRequest, ns: schemas.RoomName, body: schemas.PolicyPatch) -> HttpResponse:
    """Change policy fields (owners); an override set to null falls back to the server's setting.
    A switch to `members` closes outsiders' connections."""
    user, caller, found = await namespace_of(request, ns)
    found.require_owner()
    spend(user)
    updated = await moderation.do_ns_update(caller, found, body.model_dump(exclude_unset=True))
    return json(namespace_out(updated))


@router.get("/ns/{ns}/members", response=answers(schema=schemas.MembersOut, errors=LOOKUP), tags=["namespaces"])
async def ns_members(request: HttpRequest, ns: schemas.RoomName) -> HttpResponse:
    """The namespace's members and their roles, by username."""
    _, _, found = await namespace_of(request, ns)
    return json({"members": await reads.read(namespaces.members, found)})


@router.post(
    "/ns/{ns}/members",
    response=answers({201: schemas.MemberOut, 200: schemas.MemberOut}, errors=CREATE),
    tags=["namespaces"],
)
async def ns_member_set(request: HttpRequest, ns: schemas.RoomName, body: schemas.MemberSet) -> HttpResponse:
    """Add a member (201) or change a member's role (200). Owners grant any role; moderators add
    members (role `member`) only."""
    user, caller, found = await namespace_of(request, ns)
    found.require_moderator()
    if body.role != "member":
        found.require_owner()
    spend(user)
    added, role = await moderation.do_member_set(caller, found, body.username, body.role)
    return json({"username": body.username, "role": role}, status=201 if added else 200)


@router.delete(
    "/ns/{ns}/members/{username}", response=answers(status=204, schema=None, errors=CREATE), tags=["namespaces"]
)
async def ns_member_remove(request: HttpRequest, ns: schemas.RoomName, username: schemas.Username) -> HttpResponse:
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


@router.post(
    "/ns/{ns}/invites", response=answers(status=201, schema=schemas.InviteOut, errors=WRITE), tags=["namespaces"]
)
async def invite_create(request: HttpRequest, ns: schemas.RoomName, body: schemas.InviteCreate) -> HttpResponse:
    """A new invite (owners and moderators): its code and the join page's path."""
    user, caller, found = await namespace_of(request, ns)
    found.require_moderator()
    spend(user)
    return json(await db.call(_invite_create, caller, found, body.expires_in, body.max_uses), status=201)


@router.delete("/ns/{ns}/invites/{code}", response=answers(status=204, schema=None, errors=WRITE), tags=["namespaces"])
async def invite_revoke(request: HttpRequest, ns: schemas.RoomName, code: str) -> HttpResponse:
    """Revoke an invite (owners and moderators); one unknown or already revoked: 404."""
    user, caller, found = await namespace_of(request, ns)
    found.require_moderator()
    spend(user)
    await db.call(namespaces.invite_revoke, caller, found, code)
    return HttpResponse(status=204)


def _join(caller: Caller, ns: schemas.RoomName, code: str) -> NsAccess:
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


@router.post("/ns/{ns}/join", response=answers(schema=schemas.NamespaceOut, errors=WRITE), tags=["namespaces"])
async def ns_join(request: HttpRequest, ns: schemas.RoomName, body: schemas.JoinRequest) -> HttpResponse:
    """Join the namespace with an invite code: 200 with the namespace (a member already: nothing
    changes). A wrong, used-up, expired or revoked code: 404."""
    user = user_of(request)
    spend(user)
    return json(namespace_out(await db.call(_join, caller_of(user), ns, body.code)))


def _may_manage_room(caller: Caller, grant: RoomAccess) -> None:
    if grant.moderator or (caller.user_id is not None and grant.room.created_by_id == caller.user_id):
        return
    raise ProtocolError(ErrorCode.FORBIDDEN, "only the room's creator, a moderator or an owner may do this")


@router.post(
    "/ns/{ns}/rooms/{room}/members",
    response=answers({201: schemas.UsernameOut, 200: schemas.UsernameOut}, errors=CREATE),
    tags=["namespaces"],
)
async def ns_room_member_add(
    request: HttpRequest, ns: schemas.RoomName, room: schemas.RoomName, body: schemas.UsernameIn
) -> HttpResponse:
    """Add a member to a private room (its creator, moderators, owners): 201, or 200 if they
    already were one. A room that is not private, or someone who is not a member of a members-only
    namespace: 409."""
    user = user_of(request)
    caller = caller_of(user)
    grant = await room_of(user, ns, room)
    _may_manage_room(caller, grant)
    spend(user)
    added = await db.call(namespaces.room_member_add, caller, grant, body.username)
    return json({"username": body.username}, status=201 if added else 200)


@router.delete(
    "/ns/{ns}/rooms/{room}/members/{username}",
    response=answers(status=204, schema=None, errors=WRITE),
    tags=["namespaces"],
)
async def ns_room_member_remove(
    request: HttpRequest, ns: schemas.RoomName, room: schemas.RoomName, username: schemas.Username
) -> HttpResponse:
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


@router.post(
    "/ns/{ns}/rooms/{room}/kick", response=answers(schema=schemas.KickOut, errors=MODERATE), tags=["namespaces"]
)
async def ns_kick(
    request: HttpRequest, ns: schemas.RoomName, room: schemas.RoomName, body: schemas.KickRequest
) -> HttpResponse:
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


def sanction_out(row: Sanction, username: schemas.Username) -> dict[str, Any]:
    return {
        "username": username,
        "kind": row.kind,
        "until": protocol.format_ts(row.until) if row.until else None,
        "reason": row.reason,
    }


async def _sanction(
    request: HttpRequest, ns: schemas.RoomName, kind: str, body: schemas.SanctionRequest
) -> HttpResponse:
    user, caller, found = await namespace_of(request, ns)
    found.require_moderator()
    spend(user)
    do = moderation.do_mute if kind == Sanction.Kind.MUTE else moderation.do_ban
    row = await do(caller, found, body.username, seconds=body.seconds, reason=body.reason)
    return json(sanction_out(row, body.username), status=201)


async def _lift(request: HttpRequest, ns: schemas.RoomName, kind: str, username: schemas.Username) -> HttpResponse:
    user, caller, found = await namespace_of(request, ns)
    found.require_moderator()
    spend(user)
    await moderation.do_lift(caller, found, kind, username)
    return HttpResponse(status=204)


@router.post(
    "/ns/{ns}/mutes", response=answers(status=201, schema=schemas.SanctionOut, errors=MODERATE), tags=["namespaces"]
)
async def ns_mute(request: HttpRequest, ns: schemas.RoomName, body: schemas.SanctionRequest) -> HttpResponse:
    """Mute an account in the namespace (owners and moderators), for `seconds` or until lifted; a
    member or not. Its posts, edits and reactions are refused: 403 `muted` with `until`. Nobody
    mutes themself (409), an owner, or (unless an owner) a moderator (403)."""
    return await _sanction(request, ns, Sanction.Kind.MUTE, body)


@router.delete(
    "/ns/{ns}/mutes/{username}", response=answers(status=204, schema=None, errors=WRITE), tags=["namespaces"]
)
async def ns_unmute(request: HttpRequest, ns: schemas.RoomName, username: schemas.Username) -> HttpResponse:
    """Lift a mute (none in force: 404)."""
    return await _lift(request, ns, Sanction.Kind.MUTE, username)


@router.post(
    "/ns/{ns}/bans", response=answers(status=201, schema=schemas.SanctionOut, errors=MODERATE), tags=["namespaces"]
)
async def ns_ban(request: HttpRequest, ns: schemas.RoomName, body: schemas.SanctionRequest) -> HttpResponse:
    """Ban an account from the namespace (owners and moderators), for `seconds` or until lifted; a
    member or not. Its connections there close, and everything in the namespace answers it 403.
    Nobody bans themself (409: a lone owner would be locked out), an owner, or (unless an owner)
    a moderator (403)."""
    return await _sanction(request, ns, Sanction.Kind.BAN, body)


@router.delete("/ns/{ns}/bans/{username}", response=answers(status=204, schema=None, errors=WRITE), tags=["namespaces"])
async def ns_unban(request: HttpRequest, ns: schemas.RoomName, username: schemas.Username) -> HttpResponse:
    """Lift a ban (none in force: 404)."""
    return await _lift(request, ns, Sanction.Kind.BAN, username)


@router.get("/ns/{ns}/audit", response=answers(schema=schemas.AuditOut, errors=LOOKUP), tags=["namespaces"])
async def ns_audit(request: HttpRequest, ns: schemas.RoomName, limit: int = Query(100, ge=1, le=1000)) -> HttpResponse:
    """The audit log, newest first (owners and moderators)."""
    _, _, found = await namespace_of(request, ns)
    found.require_moderator()
    return json({"entries": await reads.read(namespaces.audit_entries, found, limit=limit)})
