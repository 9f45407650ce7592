"""Writes for namespaces: creation, policy, members and roles, invites, rooms and their members,
mutes, bans, kicks, direct messages; each moderation, role, membership, policy or invite change
with its audit entry, in the same transaction.

Sync ORM functions that check the caller's role (``access``) and return what the bus must carry
after the commit (``busevents.ControlEvent``); ``moderation`` is the async door that calls them and
publishes. ProtocolError for a refusal: not_found (hidden or missing), forbidden (the role),
invalid_frame (a bad value), conflict (a name taken, the last owner).
"""

from __future__ import annotations

import datetime
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from . import access, identity, policy, protocol
from .access import Caller, NsAccess, RoomAccess
from .fanout.busevents import ControlEvent, PolicyChanged, Removal
from .models import AuditEntry, Invite, Membership, Namespace, Role, Room, RoomMember, Sanction
from .protocol import ErrorCode, ProtocolError

Events = list[ControlEvent]

# Bounds of what a policy may say (a bad value: invalid_frame, 400).
POLICY_BOUNDS: dict[str, tuple[float, float]] = {
    "max_message_chars": (1, 100_000),
    "rate_per_sec": (0.1, 1000),
    "rate_burst": (1, 10_000),
    "edit_window": (0, 10 * 365 * 86400),
    "history_on_join": (0, 1000),
    "retention_days": (0, 100 * 365),
}


def _bad(detail: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID_FRAME, detail)


def audit(ns: Namespace, actor: str, action: str, target: str = "", reason: str = "") -> None:
    AuditEntry.objects.create(namespace=ns, actor=actor, action=action, target=target, reason=reason[:500])


# Why a bot (bots/) may not make, join or be added to another namespace, nor have DMs.
BOT_ONLY_HOME = "a bot is a member of its own namespace only"


def user_named(username: str) -> User:
    """The account called ``username``, or not_found."""
    user = User.objects.filter(username=username).first()
    if user is None:
        raise access.not_found(f"user {username!r}")
    return user


def actor_of(caller: Caller) -> str:
    """The caller's username, as audit entries name who did it ("" for a guest)."""
    return _actor(caller)


def _actor(caller: Caller) -> str:
    if caller.user_id is None:
        return ""
    return get_user_model().objects.filter(pk=caller.user_id).values_list("username", flat=True).first() or ""


# --- Namespaces ----------------------------------------------------------------------------------


def ns_create(caller: Caller, name: Any, fields: dict[str, Any]) -> NsAccess:
    """A new namespace with the caller as its owner (any logged-in user, or staff only when
    PARLEY_NAMESPACE_CREATION_STAFF_ONLY is on)."""
    if caller.user_id is None:
        raise ProtocolError(ErrorCode.FORBIDDEN, "log in to create a namespace")
    if caller.bot:
        raise ProtocolError(ErrorCode.FORBIDDEN, BOT_ONLY_HOME)
    if settings.PARLEY_NAMESPACE_CREATION_STAFF_ONLY and not caller.staff:
        raise ProtocolError(ErrorCode.FORBIDDEN, "only staff may create namespaces here")
    name = protocol.check_room_name(name)
    ns = Namespace(name=name)
    _apply_policy(ns, fields)
    try:
        with transaction.atomic():
            ns.save()
            Membership.objects.create(namespace=ns, user_id=caller.user_id, role=Role.OWNER)
    except IntegrityError:
        raise ProtocolError(ErrorCode.CONFLICT, f"a namespace called {name!r} exists") from None
    return NsAccess(namespace=ns, policy=policy.resolve(ns), role=Role.OWNER, staff=caller.staff)


def _apply_policy(ns: Namespace, fields: dict[str, Any]) -> list[str]:
    """Set the policy fields given (validated); return the names of those that changed."""
    changed = []
    for key, value in fields.items():
        if key not in policy.FIELDS:
            raise _bad(f"{key!r} is not a policy field")
        if key == "visibility":
            if value not in Namespace.Visibility.values:
                raise _bad("'visibility' must be 'open' or 'members'")
        elif key == "room_creation":
            if value not in Namespace.Creation.values:
                raise _bad("'room_creation' must be 'members' or 'moderators'")
        elif key in policy.SWITCHES:
            if not isinstance(value, bool):
                raise _bad(f"{key!r} must be true or false")
        elif value is not None:
            low, high = POLICY_BOUNDS[key]
            integral = key not in ("rate_per_sec", "edit_window")
            if isinstance(value, bool) or not isinstance(value, int | float) or (integral and value != int(value)):
                raise _bad(f"{key!r} must be a {'whole ' if integral else ''}number or null")
            if not low <= value <= high:
                raise _bad(f"{key!r} must be between {low:g} and {high:g}")
            value = int(value) if integral else float(value)
        if getattr(ns, key) != value:
            setattr(ns, key, value)
            changed.append(key)
    return changed


@transaction.atomic
def ns_update(caller: Caller, ns: NsAccess, fields: dict[str, Any]) -> tuple[NsAccess, Events]:
    """Change policy fields (owners). Joins after it go by the new policy; a switch to
    ``members`` closes outsiders' connections."""
    ns.require_owner()
    row = Namespace.objects.select_for_update().get(pk=ns.namespace.pk)
    changed = _apply_policy(row, fields)
    if not changed:
        return dataclasses_replace(ns, row), []
    row.save(update_fields=changed)
    audit(row, _actor(caller), AuditEntry.Action.POLICY, row.name, ", ".join(f"{k}={getattr(row, k)}" for k in changed))
    return dataclasses_replace(ns, row), [PolicyChanged(namespace=row.name, visibility=row.visibility)]


def dataclasses_replace(ns: NsAccess, row: Namespace) -> NsAccess:
    return NsAccess(namespace=row, policy=policy.resolve(row), role=ns.role, staff=ns.staff)


# --- Members and roles ---------------------------------------------------------------------------


@transaction.atomic
def member_set(caller: Caller, ns: NsAccess, username: str, role: str) -> tuple[bool, str, Events]:
    """Add ``username`` with ``role`` (True) or change their role (False). Owners grant and change
    any role; moderators add members (role ``member``) only. Returns (added, role, the removals:
    a moderator or owner made a member is closed out of the private rooms they saw only as one)."""
    ns.require_moderator()
    if role not in Role.values:
        raise _bad("'role' must be 'owner', 'moderator' or 'member'")
    if _no_dm(ns):
        raise access.not_found("namespace")
    user = user_named(username)
    current = Membership.objects.select_for_update().filter(namespace=ns.namespace, user=user).first()
    if current is None and identity.is_bot(user):
        raise ProtocolError(ErrorCode.FORBIDDEN, BOT_ONLY_HOME)
    if not ns.owner and (role != Role.MEMBER or current is not None):
        raise ProtocolError(ErrorCode.FORBIDDEN, "only an owner may grant or change roles")
    actor = _actor(caller)
    if current is None:
        Membership.objects.create(namespace=ns.namespace, user=user, role=role)
        audit(ns.namespace, actor, AuditEntry.Action.MEMBER_ADD, username, role)
        return True, role, []
    if current.role == role:
        return False, role, []
    if current.role == Role.OWNER:
        _keep_an_owner(ns.namespace, leaving=user.pk)
    current.role = role
    current.save(update_fields=["role"])
    audit(ns.namespace, actor, AuditEntry.Action.ROLE, username, role)
    return False, role, lost_sight(ns, username, role)


def lost_sight(ns: NsAccess, username: str, role: str) -> Events:
    """After ``username``'s role in ``ns`` became ``role``: below moderator, they no longer see the
    private rooms they are not a member of (moderators see every one), so their connections there
    close (4410)."""
    if access.role_at_least(role, Role.MODERATOR):
        return []
    user = user_named(username)
    if user.is_staff:
        return []
    hidden = Room.objects.filter(namespace=ns.namespace, private=True).exclude(members__user=user)
    return [
        Removal(namespace=ns.namespace.name, reason="removed", user_id=user.pk, room=name)
        for name in hidden.values_list("name", flat=True)
    ]


def _keep_an_owner(ns: Namespace, *, leaving: int) -> None:
    others = Membership.objects.filter(namespace=ns, role=Role.OWNER).exclude(user_id=leaving)
    if not others.exists():
        raise ProtocolError(ErrorCode.CONFLICT, "a namespace always has an owner: make someone else owner first")


@transaction.atomic
def member_remove(caller: Caller, ns: NsAccess, username: str) -> Events:
    """Remove a member (owners: anyone; moderators: members only; anyone: themselves). They leave
    the namespace's private rooms too, and their connections there close (everywhere in a
    ``members`` namespace)."""
    itself = caller.user_id is not None and _actor(caller) == username
    if not itself:
        ns.require_moderator()  # before the target is looked up: a refusal tells nothing of who exists
    user = user_named(username)
    current = Membership.objects.select_for_update().filter(namespace=ns.namespace, user=user).first()
    if current is None:
        raise access.not_found(f"member {username!r}")
    if not itself and not ns.owner and current.role != Role.MEMBER:
        raise ProtocolError(ErrorCode.FORBIDDEN, "only an owner may remove an owner or a moderator")
    if current.role == Role.OWNER:
        _keep_an_owner(ns.namespace, leaving=user.pk)
    current.delete()
    RoomMember.objects.filter(room__namespace=ns.namespace, user=user).delete()
    audit(ns.namespace, _actor(caller), AuditEntry.Action.MEMBER_REMOVE, username)
    return [Removal(namespace=ns.namespace.name, reason="removed", user_id=user.pk, private_only=ns.policy.open)]


def members(ns: NsAccess) -> list[dict[str, str]]:
    rows = Membership.objects.filter(namespace=ns.namespace).order_by("user__username")
    return [{"username": username, "role": role} for username, role in rows.values_list("user__username", "role")]


def _no_dm(ns: NsAccess) -> bool:
    return ns.namespace.name == access.DM_NAMESPACE


# --- Invites -------------------------------------------------------------------------------------


def invite_create(caller: Caller, ns: NsAccess, *, expires_in: Any = None, max_uses: Any = None) -> Invite:
    """A new invite link (owners and moderators)."""
    ns.require_moderator()
    for key, value in (("expires_in", expires_in), ("max_uses", max_uses)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise _bad(f"{key!r} must be a positive whole number")
    expires = timezone.now() + datetime.timedelta(seconds=expires_in) if expires_in else None
    with transaction.atomic():
        invite = Invite.objects.create(
            namespace=ns.namespace,
            code=secrets.token_urlsafe(12),
            created_by_id=caller.user_id,
            expires_at=expires,
            max_uses=max_uses,
        )
        reason = ", ".join(
            f
            for f in (f"expires_in={expires_in}" if expires_in else "", f"max_uses={max_uses}" if max_uses else "")
            if f
        )
        audit(ns.namespace, _actor(caller), AuditEntry.Action.INVITE_CREATE, invite.code, reason)
    return invite


def invite_url(invite: Invite) -> str:
    return f"/ns/{invite.namespace.name}/join/{invite.code}/"


@transaction.atomic
def invite_revoke(caller: Caller, ns: NsAccess, code: str) -> None:
    ns.require_moderator()
    updated = Invite.objects.filter(namespace=ns.namespace, code=code, revoked=False).update(revoked=True)
    if not updated:
        raise access.not_found(f"invite {code!r}")
    audit(ns.namespace, _actor(caller), AuditEntry.Action.INVITE_REVOKE, code)


INVITE_VALID, INVITE_USED_UP, INVITE_EXPIRED, INVITE_REVOKED = "valid", "used_up", "expired", "revoked"


def invite_state(ns_name: str, code: str) -> tuple[str, Invite | None]:
    """What the invite link ``code`` of ``ns_name`` is now: valid, used up, expired or revoked
    (the join page says which), and the invite; (``"unknown"``, None) for a code that names no
    invite of that namespace, whether the namespace is hidden, missing or there."""
    invite = Invite.objects.select_related("namespace").filter(namespace__name=ns_name, code=code).first()
    if invite is None:
        return "unknown", None
    if invite.revoked:
        return INVITE_REVOKED, invite
    if invite.expires_at is not None and invite.expires_at <= timezone.now():
        return INVITE_EXPIRED, invite
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        return INVITE_USED_UP, invite
    return INVITE_VALID, invite


def invite_valid(ns_name: str, code: str) -> Invite:
    """The invite ``code`` of namespace ``ns_name`` if it can be used now, else not_found (a wrong,
    used-up, expired or revoked code: one answer). Read-only (the join page's GET)."""
    invite = (
        Invite.objects.select_related("namespace")
        .filter(namespace__name=ns_name, code=code, revoked=False)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .filter(Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses")))
        .first()
    )
    if invite is None:
        raise access.not_found("invite")
    return invite


@transaction.atomic
def invite_redeem(caller: Caller, ns_name: str, code: str) -> NsAccess:
    """Join a namespace with an invite code (a member already: nothing changes, no use counted)."""
    if caller.user_id is None:
        raise ProtocolError(ErrorCode.FORBIDDEN, "log in to join a namespace")
    if caller.bot:
        raise ProtocolError(ErrorCode.FORBIDDEN, BOT_ONLY_HOME)
    invite = invite_valid(ns_name, code)
    ns = invite.namespace
    role = Membership.objects.filter(namespace=ns, user_id=caller.user_id).values_list("role", flat=True).first()
    if role is None:
        used = Invite.objects.filter(pk=invite.pk).filter(Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses")))
        if not used.update(uses=F("uses") + 1):
            raise access.not_found("invite")
        Membership.objects.create(namespace=ns, user_id=caller.user_id, role=Role.MEMBER)
        role = Role.MEMBER
        audit(ns, _actor(caller), AuditEntry.Action.MEMBER_ADD, _actor(caller), f"invite {code}")
    return NsAccess(namespace=ns, policy=policy.resolve(ns), role=role, staff=caller.staff)


# --- Rooms ---------------------------------------------------------------------------------------


def room_create(caller: Caller, ns: NsAccess, name: Any, *, private: bool) -> Room:
    """A new room, public or private (its creator its first member), if the policy lets the
    caller create rooms; conflict if it exists."""
    if not ns.may_create_rooms(caller) or (private and caller.user_id is None):
        raise ProtocolError(ErrorCode.FORBIDDEN, "the namespace's policy does not let you create rooms")
    access.check_not_banned(caller, ns)
    name = protocol.check_room_name(name)
    if Room.objects.filter(namespace=ns.namespace, name=name).exists():
        raise ProtocolError(ErrorCode.CONFLICT, f"a room called {name!r} exists")
    return access.room_create(ns, name, private=private, creator=caller.user_id)


def _may_manage_room(caller: Caller, room: RoomAccess) -> None:
    if room.moderator or (caller.user_id is not None and room.room.created_by_id == caller.user_id):
        return
    raise ProtocolError(ErrorCode.FORBIDDEN, "only the room's creator, a moderator or an owner may do this")


@transaction.atomic
def room_member_add(caller: Caller, room: RoomAccess, username: str) -> bool:
    """Add a member to a private room (its creator, moderators, owners); True if added."""
    _may_manage_room(caller, room)
    if not room.room.private:
        raise ProtocolError(ErrorCode.CONFLICT, "only a private room has members")
    user = user_named(username)
    if not room.policy.open and not Membership.objects.filter(namespace=room.ns.namespace, user=user).exists():
        raise ProtocolError(ErrorCode.CONFLICT, f"{username!r} is not a member of the namespace")
    _, created = RoomMember.objects.get_or_create(room=room.room, user=user)
    if created:
        audit(room.ns.namespace, _actor(caller), AuditEntry.Action.MEMBER_ADD, username, f"room {room.room.name}")
    return created


@transaction.atomic
def room_member_remove(caller: Caller, room: RoomAccess, username: str) -> Events:
    """Remove a member of a private room; their connections to it close (4410)."""
    if caller.user_id is None or _actor(caller) != username:
        _may_manage_room(caller, room)  # before the target is looked up, as above
    user = user_named(username)
    if not RoomMember.objects.filter(room=room.room, user=user).delete()[0]:
        raise access.not_found(f"member {username!r}")
    audit(room.ns.namespace, _actor(caller), AuditEntry.Action.MEMBER_REMOVE, username, f"room {room.room.name}")
    return [Removal(namespace=room.ns.namespace.name, reason="removed", user_id=user.pk, room=room.room.name)]


def room_members(room: RoomAccess) -> list[str]:
    return list(
        RoomMember.objects.filter(room=room.room).order_by("user__username").values_list("user__username", flat=True)
    )


# --- Moderation ----------------------------------------------------------------------------------


def _check_target(caller: Caller, ns: NsAccess, user: Any, what: str) -> None:
    """Moderation aims down: nobody mutes, bans or kicks themself (a lone owner would lock
    themself out: 409), an owner, or, unless an owner, a moderator (403: change their role first).
    Staff may act on anyone but themself."""
    if user.pk == caller.user_id:
        raise ProtocolError(ErrorCode.CONFLICT, f"you cannot {what} yourself")
    if ns.staff and ns.namespace.name != access.DM_NAMESPACE:
        return
    target = Membership.objects.filter(namespace=ns.namespace, user=user).values_list("role", flat=True).first()
    if target == Role.OWNER or (target == Role.MODERATOR and ns.role != Role.OWNER):
        raise ProtocolError(
            ErrorCode.FORBIDDEN,
            f"you cannot {what} {'an owner' if target == Role.OWNER else 'a moderator'}: change their role first",
        )


@transaction.atomic
def kick(
    caller: Caller, room: RoomAccess, *, username: str | None = None, guest: str | None = None, reason: str = ""
) -> Events:
    """Close every connection of a user (or of a guest, by display name) to the room (4410). They
    may rejoin a public room; a private room's member is removed from it."""
    room.ns.require_moderator()
    if (username is None) == (guest is None):
        raise _bad("give 'username' or 'guest'")
    if guest is not None:
        audit(room.ns.namespace, _actor(caller), AuditEntry.Action.KICK, guest, reason or f"room {room.room.name}")
        return [
            Removal(namespace=room.ns.namespace.name, reason="kicked", guest=guest, room=room.room.name, note=reason)
        ]
    assert username is not None
    user = user_named(username)
    _check_target(caller, room.ns, user, "kick")
    if room.room.private:
        RoomMember.objects.filter(room=room.room, user=user).delete()
    audit(room.ns.namespace, _actor(caller), AuditEntry.Action.KICK, username, reason or f"room {room.room.name}")
    return [
        Removal(namespace=room.ns.namespace.name, reason="kicked", user_id=user.pk, room=room.room.name, note=reason)
    ]


def _until(seconds: Any) -> datetime.datetime | None:
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
        raise _bad("'seconds' must be a positive whole number (or absent: until lifted)")
    return timezone.now() + datetime.timedelta(seconds=seconds)


@transaction.atomic
def sanction(
    caller: Caller, ns: NsAccess, kind: str, username: str, *, seconds: Any = None, reason: str = ""
) -> tuple[Sanction, Events]:
    """Mute or ban an account in the namespace (members or not: open namespaces have visitors),
    for ``seconds`` or until lifted. A ban closes their connections in the namespace (4410)."""
    ns.require_moderator()
    if _no_dm(ns):
        raise access.not_found("namespace")
    until = _until(seconds)
    user = user_named(username)
    _check_target(caller, ns, user, kind)
    row, _ = Sanction.objects.update_or_create(
        namespace=ns.namespace,
        user=user,
        kind=kind,
        defaults={"until": until, "reason": reason[:500], "by": _actor(caller)},
    )
    audit(ns.namespace, _actor(caller), kind, username, reason)
    if kind == Sanction.Kind.BAN:
        end = protocol.format_ts(until) if until else None
        return row, [Removal(namespace=ns.namespace.name, reason="banned", user_id=user.pk, note=reason, until=end)]
    return row, []


@transaction.atomic
def lift(caller: Caller, ns: NsAccess, kind: str, username: str) -> None:
    """Lift a mute or a ban (not_found if there is none in force)."""
    ns.require_moderator()
    user = user_named(username)
    now = timezone.now()
    deleted, _ = (
        Sanction.objects.filter(namespace=ns.namespace, user=user, kind=kind)
        .filter(Q(until__isnull=True) | Q(until__gt=now))
        .delete()
    )
    Sanction.objects.filter(namespace=ns.namespace, user=user, kind=kind).delete()  # an expired one
    if not deleted:
        raise access.not_found(f"{kind} of {username!r}")
    audit(ns.namespace, _actor(caller), "unmute" if kind == Sanction.Kind.MUTE else "unban", username)


def audit_entries(ns: NsAccess, *, limit: int = 100) -> list[dict[str, Any]]:
    """The audit log, newest first (owners and moderators)."""
    ns.require_moderator()
    rows = AuditEntry.objects.filter(namespace=ns.namespace).order_by("-id")[: max(1, min(limit, 1000))]
    return [
        {"actor": e.actor, "action": e.action, "target": e.target, "reason": e.reason, "ts": protocol.format_ts(e.ts)}
        for e in rows
    ]


# --- Direct messages -----------------------------------------------------------------------------


def dm_namespace() -> Namespace:
    ns, _ = Namespace.objects.get_or_create(
        name=access.DM_NAMESPACE, defaults={"visibility": Namespace.Visibility.MEMBERS, "allow_guests": False}
    )
    return ns


def dm_room_name(a: int, b: int) -> str:
    low, high = sorted((a, b))
    return f"{low}-{high}"


@transaction.atomic
def dm_room(caller: Caller, username: str) -> tuple[RoomAccess, str]:
    """The private room of the caller and ``username`` (created on first use), and the other's
    username. Guests have none (forbidden); an unknown user: not_found."""
    if caller.user_id is None:
        raise ProtocolError(ErrorCode.FORBIDDEN, "log in to send direct messages")
    other = user_named(username)
    if caller.bot or identity.is_bot(other):
        raise ProtocolError(ErrorCode.FORBIDDEN, BOT_ONLY_HOME)
    ns = dm_namespace()
    name = dm_room_name(caller.user_id, other.pk)
    room, created = Room.objects.get_or_create(
        namespace=ns,
        name=name,
        defaults={"address": protocol.room_address(ns.name, name), "private": True, "created_by_id": caller.user_id},
    )
    if created:
        RoomMember.objects.bulk_create(
            [RoomMember(room=room, user_id=u) for u in {caller.user_id, other.pk}], ignore_conflicts=True
        )
    access_ns = NsAccess(namespace=ns, policy=policy.resolve(ns), role=None, staff=False)
    return RoomAccess(ns=access_ns, room=room), other.get_username()


def dm_list(caller: Caller) -> list[dict[str, Any]]:
    """The caller's direct messages: the other's username, the last id and the unread count,
    newest activity first."""
    from . import selectors

    if caller.user_id is None:
        return []
    # A conversation that was opened but never written in is in nobody's list.
    rooms = list(
        Room.objects.filter(
            namespace__name=access.DM_NAMESPACE, members__user_id=caller.user_id, last_id__gt=0
        ).order_by("-last_activity")
    )
    others = dict(
        RoomMember.objects.filter(room__in=rooms)
        .exclude(user_id=caller.user_id)
        .values_list("room_id", "user__username")
    )
    unread = selectors.unread_counts(user_id=caller.user_id, room_ids=[r.pk for r in rooms])
    me = _actor(caller)  # a note to oneself
    return [
        {
            "username": others.get(r.pk, me),
            "last_id": r.last_id,
            "unread": unread.get(r.pk, 0),
            "room": r.name,
        }
        for r in rooms
    ]
