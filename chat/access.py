"""Who may see and do what in a namespace and its rooms: ``access_*`` fetch with the check.

Every door (the WebSocket, the pages, the API) asks here, so the rules are in one place
(docs/namespaces.md has them as a table). Sync ORM code: async callers use ``db.call``/``reads``.

- Invisible (a ``members`` namespace to an outsider, a private room to a non-member, a DM to a
  third party) and nonexistent are the same answer: ProtocolError ``not_found``. The WebSocket
  turns it into ``forbidden`` + 4403, the pages into 404, the API into 404.
- Visible but not allowed (a member without the role, a banned account, a guest where guests are
  off): ``forbidden`` (403).

Staff users moderate everywhere except DMs: they act as an owner of every namespace.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from . import policy, protocol
from .models import Membership, Namespace, Role, Room, RoomMember, Sanction
from .policy import Policy
from .protocol import ErrorCode, ProtocolError

# The namespace that holds direct messages: its name is no valid room name, so no one can create
# (or address) a namespace of that name; it is in no list.
DM_NAMESPACE = "~dm"

_RANK: dict[str | None, int] = {None: 0, Role.MEMBER: 1, Role.MODERATOR: 2, Role.OWNER: 3}

# What a refused join is told, whether the room is hidden or does not exist: nothing tells them apart.
NOT_YOURS = "no such room, or you may not join it"


@dataclasses.dataclass(frozen=True, slots=True)
class Caller:
    """Who asks: a user (``user_id``), or a guest (None)."""

    user_id: int | None = None
    staff: bool = False
    # A bot account (bots/): a member of its namespace only, it sees no other (not even ``public``).
    bot: bool = False

    @property
    def guest(self) -> bool:
        return self.user_id is None


GUEST = Caller()


@dataclasses.dataclass(frozen=True, slots=True)
class NsAccess:
    """A namespace as the caller may see it."""

    namespace: Namespace
    policy: Policy
    role: str | None  # the caller's stored role (None: not a member)
    staff: bool = False
    # The caller's ban, read with the namespace (``access_namespace``): (banned, until); None when
    # not read (``check_not_banned`` reads it then).
    ban: tuple[bool, str | None] | None = None

    @property
    def member(self) -> bool:
        """Counts as a member: a stored one, or anyone in ``public``."""
        return self.role is not None or self.policy.public

    @property
    def moderator(self) -> bool:
        """May moderate: an owner or a moderator of it, or staff (not in DMs)."""
        return _RANK[self.role] >= 2 or (self.staff and self.namespace.name != DM_NAMESPACE)

    @property
    def owner(self) -> bool:
        return self.role == Role.OWNER or (self.staff and self.namespace.name != DM_NAMESPACE)

    def may_create_rooms(self, caller: Caller) -> bool:
        if self.namespace.name == DM_NAMESPACE:
            return False
        if self.policy.public:
            return caller.user_id is not None or self.policy.allow_guests
        if self.policy.room_creation == Namespace.Creation.MODERATORS:
            return self.moderator
        return self.member or self.moderator

    def require_moderator(self) -> None:
        if not self.moderator:
            raise ProtocolError(ErrorCode.FORBIDDEN, "only an owner or a moderator of the namespace may do this")

    def require_owner(self) -> None:
        if not self.owner:
            raise ProtocolError(ErrorCode.FORBIDDEN, "only an owner of the namespace may do this")


@dataclasses.dataclass(frozen=True, slots=True)
class RoomAccess:
    """A room the caller may see, with what they may do there."""

    ns: NsAccess
    room: Room

    @property
    def policy(self) -> Policy:
        return self.ns.policy

    @property
    def moderator(self) -> bool:
        return self.ns.moderator


def not_found(what: str) -> ProtocolError:
    return ProtocolError(ErrorCode.NOT_FOUND, f"no {what}")


def access_namespace(caller: Caller, name: str) -> NsAccess:
    """The namespace ``name`` if the caller may see it, else not_found (also for a ban: a banned
    account sees an open namespace, and is refused at its doors: ``check_not_banned``)."""
    return _ns_access(caller, _lookup(caller, _ns_name(name)))


def _ns_name(name: str) -> str:
    try:
        return protocol.check_room_name(name)
    except ProtocolError:
        raise not_found(f"namespace {name!r}") from None


def public_namespace() -> Namespace:
    ns, _ = Namespace.objects.get_or_create(name=protocol.PUBLIC)
    return ns


@dataclasses.dataclass(frozen=True, slots=True)
class _Found:
    """What one query read (``_lookup``): the namespace, the caller's role and ban there, the room
    asked for and whether the caller is one of its members."""

    namespace: Namespace
    role: str | None = None
    banned: bool = False
    room: Room | None = None
    room_member: bool = False


def _lookup(caller: Caller, ns_name: str, room_name: str | None = None) -> _Found:
    """The namespace ``ns_name`` (not_found if there is none), the caller's role and ban in it and,
    with ``room_name``, that room and the caller's membership of it: ONE query, in SQL because the
    ORM's compilation of it cost more than running it (every API call and logged-in join asks)."""
    sql, fields = _lookup_sql()
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    user = caller.user_id
    with connection.cursor() as cursor:
        cursor.execute(sql, [user, user, now, user, room_name or "", ns_name])
        row = cursor.fetchone()
    if row is None:
        if ns_name != protocol.PUBLIC:
            raise not_found(f"namespace {ns_name!r}")
        public_namespace()  # always there (a test's flushed database, a hand-emptied table)
        return _lookup(caller, ns_name, room_name)
    ns_fields, room_fields = fields
    n = len(ns_fields)
    namespace = Namespace.from_db("default", ns_fields, _booleans(Namespace, ns_fields, row[:n]))
    role, banned = row[n], bool(row[n + 1])
    room = None
    if row[n + 2] is not None:
        values = row[n + 2 : n + 2 + len(room_fields)]
        room = Room.from_db("default", room_fields, _booleans(Room, room_fields, values))
    return _Found(namespace=namespace, role=role, banned=banned, room=room, room_member=bool(row[-1]))


def _booleans(model: type[Any], names: list[str], values: tuple[Any, ...]) -> list[Any]:
    """SQLite gives booleans as 0 and 1."""
    flags = _BOOLEANS[model]
    return [bool(v) if f in flags else v for f, v in zip(names, values, strict=True)]


_BOOLEANS: dict[type[Any], frozenset[str]] = {
    m: frozenset(f.attname for f in m._meta.concrete_fields if f.get_internal_type() == "BooleanField")
    for m in (Namespace, Room)
}
_LOOKUP: tuple[str, tuple[list[str], list[str]]] | None = None


def _lookup_sql() -> tuple[str, tuple[list[str], list[str]]]:
    """The query of ``_lookup`` (built once): every column but dates (the doors need none)."""
    global _LOOKUP
    if _LOOKUP is None:
        q = connection.ops.quote_name

        def columns(model: type[Any], alias: str) -> tuple[list[str], str]:
            fields = [f for f in model._meta.concrete_fields if f.get_internal_type() != "DateTimeField"]
            return [f.attname for f in fields], ", ".join(f"{alias}.{q(f.column)}" for f in fields)

        ns_fields, ns_cols = columns(Namespace, "ns")
        room_fields, room_cols = columns(Room, "r")
        table = {m: q(m._meta.db_table) for m in (Namespace, Membership, Sanction, Room, RoomMember)}
        sql = (
            f"SELECT {ns_cols}, "
            f"(SELECT m.role FROM {table[Membership]} m WHERE m.namespace_id = ns.id AND m.user_id = %s), "
            f"(SELECT COUNT(*) FROM {table[Sanction]} s WHERE s.namespace_id = ns.id AND s.user_id = %s "
            f"AND s.kind = 'ban' AND (s.until IS NULL OR s.until > %s)), "
            f"{room_cols}, "
            f"(SELECT COUNT(*) FROM {table[RoomMember]} rm WHERE rm.room_id = r.id AND rm.user_id = %s) "
            f"FROM {table[Namespace]} ns LEFT JOIN {table[Room]} r ON r.namespace_id = ns.id AND r.name = %s "
            f"WHERE ns.name = %s"
        )
        _LOOKUP = sql, (ns_fields, room_fields)
    return _LOOKUP


def _ns_access(caller: Caller, found: _Found) -> NsAccess:
    ns = found.namespace
    ban = None
    if caller.user_id is not None and ns.name != DM_NAMESPACE:
        ban = (found.banned, None)  # the end of a ban is read when it is told (check_not_banned)
    access = NsAccess(namespace=ns, policy=policy.resolve(ns), role=found.role, staff=caller.staff, ban=ban)
    if caller.bot and access.role is None:
        raise not_found(f"namespace {ns.name!r}")
    if not access.policy.open and access.role is None and not access.moderator:
        raise not_found(f"namespace {ns.name!r}")
    return access


def sanction_until(caller: Caller, ns: NsAccess, kind: str) -> tuple[bool, str | None]:
    """Whether the caller's account is under a ``kind`` sanction in ``ns`` now, and until when."""
    if caller.user_id is None or ns.namespace.name == DM_NAMESPACE:
        return False, None
    until = (
        Sanction.objects.filter(namespace=ns.namespace, user_id=caller.user_id, kind=kind)
        .filter(Q(until__isnull=True) | Q(until__gt=timezone.now()))
        .values_list("until", flat=True)
    )
    for end in until:
        return True, None if end is None else protocol.format_ts(end)
    return False, None


def check_not_banned(caller: Caller, ns: NsAccess) -> None:
    if ns.ban is not None and not ns.ban[0]:
        return  # read with the namespace: not banned (the common case: no query)
    banned, until = sanction_until(caller, ns, Sanction.Kind.BAN)
    if banned:
        raise ProtocolError(ErrorCode.FORBIDDEN, "you are banned from this namespace", until=until)


def access_room(caller: Caller, ns: NsAccess, name: str) -> RoomAccess:
    """The room ``name`` of ``ns`` if the caller may see it, else not_found."""
    try:
        name = protocol.check_room_name(name)
    except ProtocolError:
        raise not_found(f"room {name!r}") from None
    room = Room.objects.filter(namespace=ns.namespace, name=name).first()
    if room is None or not may_see_room(caller, ns, room):
        raise not_found(f"room {name!r}")
    return RoomAccess(ns=ns, room=room)


def may_see_room(caller: Caller, ns: NsAccess, room: Room) -> bool:
    if not room.private:
        return True
    if ns.moderator:
        return True
    if caller.user_id is None:
        return False
    return RoomMember.objects.filter(room=room, user_id=caller.user_id).exists()


def access_room_in(caller: Caller, ns_name: str, room_name: str) -> RoomAccess:
    """The room ``room_name`` of namespace ``ns_name`` if the caller may see both and is not banned
    from the namespace (not_found; forbidden for a ban): one query."""
    return _room_access(caller, _lookup(caller, _ns_name(ns_name), _room_name(room_name)))


def _room_name(name: str) -> str:
    try:
        return protocol.check_room_name(name)
    except ProtocolError:
        raise not_found(f"room {name!r}") from None


def _room_access(caller: Caller, found: _Found) -> RoomAccess:
    ns = _ns_access(caller, found)
    check_not_banned(caller, ns)
    room = found.room
    if room is None or not (not room.private or ns.moderator or found.room_member):
        raise not_found("room")
    return RoomAccess(ns=ns, room=room)


def access_join(caller: Caller, ns_name: str, room_name: str) -> RoomAccess:
    """For a connection that joins ``room_name`` of ``ns_name``: the room, created on first join
    if the policy lets the caller create rooms. not_found for anything the caller may not see or
    make; forbidden for a banned account, or a guest where guests are not allowed. One query for
    a room that exists."""
    name = _room_name(room_name)
    found = _lookup(caller, _ns_name(ns_name), name)
    ns = _ns_access(caller, found)
    if caller.guest and not ns.policy.allow_guests:
        raise ProtocolError(ErrorCode.FORBIDDEN, "guests are not allowed here: log in to chat")
    if found.room is not None or not ns.may_create_rooms(caller):
        # A room the caller may not see is refused even where they may create rooms: creating
        # "it" would hand them the existing (private) room.
        return _room_access(caller, found)
    check_not_banned(caller, ns)
    room = room_create(ns, name, private=False, creator=caller.user_id)
    return RoomAccess(ns=ns, room=room)


def room_create(ns: NsAccess, name: str, *, private: bool, creator: int | None) -> Room:
    """Create room ``name`` (or return it if it exists: two first joins at once). A private room's
    creator is its first member."""
    room, created = Room.objects.get_or_create(
        namespace=ns.namespace,
        name=name,
        defaults={
            "address": protocol.room_address(ns.namespace.name, name),
            "private": private,
            "created_by_id": creator,
        },
    )
    if created and private and creator is not None:
        RoomMember.objects.get_or_create(room=room, user_id=creator)
    return room


def visible_namespaces(caller: Caller) -> list[NsAccess]:
    """The namespaces the caller may see (``public`` first, then by name), DMs' excluded."""
    rows = Namespace.objects.exclude(name=DM_NAMESPACE).order_by("name")
    roles: dict[int, str] = {}
    if caller.user_id is not None:
        roles = dict(Membership.objects.filter(user_id=caller.user_id).values_list("namespace_id", "role"))
    found = []
    for ns in rows:
        access = NsAccess(namespace=ns, policy=policy.resolve(ns), role=roles.get(ns.pk), staff=caller.staff)
        if caller.bot and access.role is None:
            continue
        if access.policy.open or access.role is not None or access.moderator:
            found.append(access)
    found.sort(key=lambda a: (a.namespace.name != protocol.PUBLIC, a.namespace.name))
    return found


def visible_rooms(caller: Caller, ns: NsAccess, *, limit: int = 200) -> list[Room]:
    """The rooms of ``ns`` the caller may see, newest activity first."""
    rows = Room.objects.filter(namespace=ns.namespace)
    if not ns.moderator:
        mine = Q(members__user_id=caller.user_id) if caller.user_id is not None else Q(pk__in=[])
        rows = rows.filter(Q(private=False) | mine).distinct()
    return list(rows.order_by("-last_activity")[:limit])


def readers(room: Room, user_ids: set[int]) -> set[int]:
    """Those of ``user_ids`` who may read ``room``: anyone for a public room of an open namespace;
    else its members (a private room's, or the namespace's), its moderators and staff (not in DMs)."""
    ns = Namespace.objects.get(pk=room.namespace_id)
    if not room.private and ns.visibility == Namespace.Visibility.OPEN:
        return set(user_ids)
    dm = ns.name == DM_NAMESPACE
    allowed: set[int] = set()
    if not dm:
        allowed |= set(get_user_model().objects.filter(pk__in=user_ids, is_staff=True).values_list("pk", flat=True))
    roles = Membership.objects.filter(namespace=ns, user_id__in=user_ids)
    if room.private:
        roles = roles.filter(role__in=[Role.OWNER, Role.MODERATOR])
        allowed |= set(
            RoomMember.objects.filter(room_id=room.pk, user_id__in=user_ids).values_list("user_id", flat=True)
        )
    allowed |= set(roles.values_list("user_id", flat=True))
    return allowed


def role_at_least(role: str | None, wanted: str) -> bool:
    return _RANK[role] >= _RANK[wanted]


class Policies:
    """Namespaces as a guest sees them, kept a few seconds per process (``public``'s, for its
    anonymous guests' joins: ``consumers.RoomConsumer._admit``). A policy change forgets its
    namespace at once on every process (``broadcast.Hub``, ``PolicyChanged``); the TTL bounds the
    staleness when the bus is down."""

    TTL = 5.0

    def __init__(self) -> None:
        self._kept: dict[str, tuple[float, NsAccess]] = {}

    def get(self, name: str) -> NsAccess | None:
        found = self._kept.get(name)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, ns: NsAccess) -> None:
        self._kept[ns.namespace.name] = (time.monotonic() + self.TTL, ns)

    def forget(self, name: str) -> None:
        self._kept.pop(name, None)

    def clear(self) -> None:
        self._kept.clear()


policies = Policies()


@dataclasses.dataclass(frozen=True, slots=True)
class Readable:
    """A room the caller may read now (``readable_rooms``)."""

    room_id: int
    namespace: str
    name: str
    address: str


def readable_rooms(caller: Caller, *, namespace: str | None = None) -> dict[int, Readable]:
    """Every room the caller may read now (of ``namespace`` only, if given), by id: the public rooms
    of the namespaces they may see (``open`` ones, those they are a member of, all for staff) and
    are not banned from, the private rooms there they are a member of (all of them for an owner or
    a moderator of the namespace, or staff), and their direct messages (staff: only their own).
    Guests: none (search is for accounts). The rules of ``access_room_in`` (and ``NsAccess``), for
    every room at once, in ONE query: search asks before every search, and filters by these ids."""
    if caller.user_id is None:
        return {}
    q = connection.ops.quote_name
    table = {m: q(m._meta.db_table) for m in (Namespace, Membership, Sanction, Room, RoomMember)}
    member = f"EXISTS (SELECT 1 FROM {table[RoomMember]} rm WHERE rm.room_id = r.id AND rm.user_id = %s)"
    moderates = f"(m.role IN ('{Role.OWNER}', '{Role.MODERATOR}') OR %s)"
    sql = (
        f"SELECT r.id, ns.name, r.name, r.address FROM {table[Room]} r "
        f"JOIN {table[Namespace]} ns ON ns.id = r.namespace_id "
        f"LEFT JOIN {table[Membership]} m ON m.namespace_id = ns.id AND m.user_id = %s "
        f"WHERE CASE WHEN ns.name = %s THEN {member} ELSE "
        f"NOT EXISTS (SELECT 1 FROM {table[Sanction]} s WHERE s.namespace_id = ns.id AND s.user_id = %s "
        f"AND s.kind = '{Sanction.Kind.BAN}' AND (s.until IS NULL OR s.until > %s)) "
        f"AND (ns.visibility = '{Namespace.Visibility.OPEN}' OR m.role IS NOT NULL OR %s) "
        f"AND (NOT r.private OR {moderates} OR {member}) END"
    )
    user, staff = caller.user_id, caller.staff
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params: list[Any] = [user, DM_NAMESPACE, user, user, now, staff, staff, user]
    if namespace is not None:
        sql += " AND ns.name = %s"
        params.append(namespace)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {
            pk: Readable(room_id=pk, namespace=ns, name=name, address=address)
            for pk, ns, name, address in cursor.fetchall()
        }
