"""Pages. The room page's live part is the native WebSocket protocol (static/chat/room.js)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.clientaddr import client_address

from . import access, identity, moderation, namespaces, policy, protocol, pubsub, selectors
from .access import Caller, NsAccess, RoomAccess
from .models import Invite, Role, Room, Sanction
from .protocol import ErrorCode, ProtocolError

# Messages asked for per scroll-up; the server caps it at PARLEY_HISTORY_PAGE_MAX.
OLDER_PAGE = 50
# Mentions listed on the Mentions page (the newest).
MENTIONS_SHOWN = 100


def index(request: HttpRequest) -> HttpResponse:
    """The room list (newest activity first) and a form to join or create a room; for a logged-in
    user, each room's unread count. rooms.js refreshes the figures from ``rooms_json``."""
    error = None
    typed = ""
    if request.method == "POST":
        typed = request.POST.get("room", "").strip()
        try:
            name = protocol.check_room_name(typed)
        except ProtocolError as exc:
            error = room_name_error(typed, exc)
        else:
            return redirect(reverse("room", args=[name]))
    caller = caller_of(request)
    context = {
        "rooms": room_listing(request),
        "error": error,
        "typed": typed,
        "refresh": settings.PARLEY_ROOM_LIST_REFRESH,
        "dms": namespaces.dm_list(caller),
        "namespaces": [ns for ns in access.visible_namespaces(caller) if not ns.policy.public],
        "may_create_ns": may_create_namespace(request),
    }
    return render(request, "chat/index.html", context, status=400 if error else 200)


@require_GET
def rooms_json(request: HttpRequest) -> HttpResponse:
    """``/rooms.json``: the room list's figures, what the page shows and no more, for rooms.js to
    refresh them: ``{"rooms": [{"name", "unread", "online", "last_id"}]}``, newest activity first;
    ``unread`` is null for an anonymous visitor. The session says who is asking (no CSRF: a read)."""
    rooms = [
        {"name": item["room"].name, "unread": item["unread"], "online": item["online"], "last_id": item["room"].last_id}
        for item in room_listing(request)
    ]
    response = JsonResponse({"rooms": rooms})
    response["Cache-Control"] = "no-store"
    return response


def room_listing(request: HttpRequest) -> list[dict[str, Any]]:
    """The listed rooms with how many are online in each and, for a logged-in user, how many
    messages they have not read (None for anyone else): a fixed number of queries for all rooms."""
    rooms = selectors.room_list()
    return rooms_with_counts(request, rooms)


def rooms_with_counts(request: HttpRequest, rooms: list[Room]) -> list[dict[str, Any]]:
    """``rooms`` with how many are online in each and, for a logged-in user, how many messages
    they have not read (None for anyone else): a fixed number of queries for all rooms."""
    online = pubsub.online_counts(keys=[protocol.room_key(r.address) for r in rooms])
    unread: dict[int, int] | None = None
    if request.user.is_authenticated:
        unread = selectors.unread_counts(user_id=request.user.pk, room_ids=[r.pk for r in rooms])
    return [
        {
            "room": r,
            "online": online.get(protocol.room_key(r.address), 0),
            "unread": None if unread is None else unread.get(r.pk, 0),
        }
        for r in rooms
    ]


@login_required
def mentions(request: HttpRequest) -> HttpResponse:
    """``/mentions/``: the logged-in user's recent mentions, newest first, each linking to its message."""
    assert request.user.is_authenticated  # login_required
    items = [
        {"mention": m, "url": address_url(m.address, dm_with=m.sender) + f"#m{m.id}"}
        for m in selectors.mentions_recent(user_id=request.user.pk, limit=MENTIONS_SHOWN)
    ]
    return render(request, "chat/mentions.html", {"mentions": items, "shown": MENTIONS_SHOWN})


def address_url(address: str, *, dm_with: str = "") -> str:
    """The page of the room at ``address`` (``protocol.room_address``); a direct message's is
    ``/dm/<dm_with>/`` (its other party)."""
    ns, _, name = address.rpartition("/")
    if ns == access.DM_NAMESPACE:
        return reverse("dm", args=[dm_with])
    return room_url(ns or protocol.PUBLIC, name)


def room_name_error(typed: str, exc: ProtocolError) -> str:
    """The message shown for a room name that cannot be used."""
    if not typed:
        return _("Type a room name.")
    return _(
        "“%(name)s” cannot be a room name: use 1 to 64 letters, digits, “-”, “_” or “.” (no spaces). (%(detail)s)"
    ) % {"name": typed[:80], "detail": exc.detail}


def with_room_name(view: Callable[[HttpRequest, str], HttpResponse]) -> Callable[[HttpRequest, str], HttpResponse]:
    """Check the room name in the URL: the view gets it normalised (NFC); an invalid one gets a 400 page."""

    @functools.wraps(view)
    def checked(request: HttpRequest, name: str) -> HttpResponse:
        try:
            name = protocol.check_room_name(name)
        except ProtocolError as exc:
            return render(request, "chat/bad_room.html", {"error": room_name_error(name, exc)}, status=400)
        return view(request, name)

    return checked


@with_room_name
def room(request: HttpRequest, name: str) -> HttpResponse:
    """``/rooms/<name>/``: a room of ``public`` (``room_page``)."""
    return room_page(request, protocol.PUBLIC, name)


def room_page(request: HttpRequest, ns_name: str, name: str) -> HttpResponse:
    """The room: chat when the visitor has a name (an account or a guest name), else ask for one.
    A room (or namespace) the visitor may not see is a 404, whoever asks; a room not made yet is
    shown to whoever may make it (the first join makes it)."""
    caller = caller_of(request)
    ns = ns_or_404(caller, ns_name)
    found = room_or_none(caller, ns, name)
    here = room_url(ns_name, name)
    if found is None and not ns.may_create_rooms(caller) and not (caller.guest and not ns.policy.allow_guests):
        raise Http404("no such room")
    if request.user.is_authenticated:
        return render_room(request, ns, name, found)
    if not ns.policy.allow_guests:
        return render(request, "chat/room_login.html", {"room_name": name, "room_url": here})
    guest = request.session.get(identity.GUEST_NAME_SESSION_KEY)
    error = None
    if guest:
        try:
            identity.guest_name_check(guest)
        except ProtocolError as exc:
            # Someone registered this name since the guest chose it: the guest picks another.
            del request.session[identity.GUEST_NAME_SESSION_KEY]
            error, guest = guest_name_error(guest, exc), None
    if not guest or "change-name" in request.GET:
        return render_name_form(request, ns_name, name, current=guest or "", error=error)
    return render_room(request, ns, name, found)


def room_or_none(caller: Caller, ns: NsAccess, name: str) -> Room | None:
    """The room ``name`` of ``ns`` if the caller may see it, None if there is none; 404 if there is
    one the caller may not see (the same answer as a missing namespace)."""
    try:
        return access.access_room(caller, ns, name).room
    except ProtocolError:
        if Room.objects.filter(namespace=ns.namespace, name=name).exists():
            raise Http404("no such room") from None
    return None


@require_POST
@with_room_name
def guest_name(request: HttpRequest, name: str) -> HttpResponse:
    """Called when a guest submits the display-name form of a room of ``public``."""
    return guest_name_for(request, protocol.PUBLIC, name)


def guest_name_for(request: HttpRequest, ns_name: str, name: str) -> HttpResponse:
    """Called when a guest submits the display-name form: keep the name in the session, or say why not."""
    here = room_url(ns_name, name)
    if request.user.is_authenticated:
        return redirect(here)
    ns = ns_or_404(caller_of(request), ns_name)
    if not ns.policy.allow_guests:
        return render(request, "chat/room_login.html", {"room_name": name, "room_url": here}, status=403)
    typed = request.POST.get("name", "")
    address = client_address(request.META.get("REMOTE_ADDR"), request.META.get("HTTP_X_FORWARDED_FOR"))
    try:
        chosen = identity.guest_name_check(typed, address=address)
    except ProtocolError as exc:
        status = 429 if exc.code == ErrorCode.RATE_LIMITED else 400
        return render_name_form(
            request, ns_name, name, current=typed, error=guest_name_error(typed, exc), status=status
        )
    request.session[identity.GUEST_NAME_SESSION_KEY] = chosen
    return redirect(here)


def guest_name_error(typed: str, exc: ProtocolError) -> str:
    """The message shown for a guest name that cannot be used."""
    if exc.code == ErrorCode.FORBIDDEN:
        return _("“%(name)s” is a registered user's name. Choose another name, or log in.") % {"name": typed.strip()}
    if exc.code == ErrorCode.RATE_LIMITED:
        return _("Too many registered names were tried from your address. Wait a minute, then try again.")
    return _("Choose a name of 1 to %(max)s characters, without control characters.") % {
        "max": settings.PARLEY_MAX_NAME_CHARS
    }


def render_name_form(
    request: HttpRequest, ns_name: str, name: str, *, current: str, error: str | None, status: int = 200
) -> HttpResponse:
    here = room_url(ns_name, name)
    action = (
        reverse("guest_name", args=[name])
        if ns_name == protocol.PUBLIC
        else reverse("ns_guest_name", args=[ns_name, name])
    )
    context = {
        "room_name": name,
        "current": current,
        "error": error,
        "max_name": settings.PARLEY_MAX_NAME_CHARS,
        "here": here,  # where "Log in" and the language menu come back to
        "room_url": here,
        "action": action,
    }
    return render(request, "chat/room_name.html", context, status=status)


def render_room(request: HttpRequest, ns: NsAccess, name: str, found: Room | None) -> HttpResponse:
    """The room page of room ``name`` of ``ns`` (``found``: the room, None if the first join makes it)."""
    caller = caller_of(request)
    private = found is not None and found.private
    manage = False
    members: list[str] = []
    if found is not None and found.private:
        manage = caller.user_id is not None and (ns.moderator or found.created_by_id == caller.user_id)
        members = namespaces.room_members(RoomAccess(ns=ns, room=found))
    extra = {
        "ns": ns,
        "ns_name": ns.namespace.name,
        "public_ns": ns.policy.public,
        "private": private,
        "manage_members": manage,
        "room_members": members,
        "members_url": reverse("room_members", args=[ns.namespace.name, name]),
    }
    ws = f"/ws/rooms/{quote(name)}/" if ns.policy.public else f"/ws/ns/{quote(ns.namespace.name)}/{quote(name)}/"
    key = protocol.room_address(ns.namespace.name, name)
    return render_chat(request, title=name, key=key, ws=ws, moderator=ns.moderator, extra=extra)


def render_chat(
    request: HttpRequest,
    *,
    title: str,
    key: str,
    ws: str,
    moderator: bool = False,
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    """The chat page: ``ws`` is the WebSocket path it opens, ``key`` names the room in the browser's
    storage (the room's address); ``moderator``: the page offers to delete anyone's message."""
    config = {
        "room": title,
        "key": key,
        "ws": ws,
        "moderator": moderator,
        "olderPage": OLDER_PAGE,
        "strings": room_strings(),
    }
    guest = not request.user.is_authenticated
    you = request.session.get(identity.GUEST_NAME_SESSION_KEY, "") if guest else request.user.get_username()
    context = {"room_name": title, "config": config, "guest": guest, "you": you, **(extra or {})}
    return render(request, "chat/room.html", context)


def room_strings() -> dict[str, str]:
    """The room page's words that room.js shows, translated; ``%(x)s`` placeholders are filled in JS."""
    return {
        "connecting": _("Connecting…"),
        "live": _("Live"),
        "reconnecting": _("Reconnecting…"),
        "closed": _("Disconnected"),
        "typing_one": _("%(name)s is typing…"),
        "typing_two": _("%(first)s and %(second)s are typing…"),
        "typing_many": _("Several people are typing…"),
        "load_older": _("Load older messages"),
        "loading": _("Loading…"),
        "beginning": _("This is the beginning of the room."),
        "queued": _("Waiting for the connection…"),
        "sending": _("Sending…"),
        "failed": _("Not sent: %(detail)s"),
        "dismiss": _("Dismiss"),
        "you": _("(you)"),
        "new_messages": _("New messages ↓"),
        "too_long": _("This message is %(count)s characters long; the limit is %(limit)s."),
        "refused": _("The server closed the room: %(detail)s"),
        "edited": _("(edited)"),
        "deleted": _("Message deleted"),
        "react": _("React"),
        "reacted": _("%(names)s reacted with %(emoji)s"),
        "reply": _("Reply"),
        "edit": _("Edit"),
        "delete": _("Delete"),
        "cancel": _("Cancel"),
        "delete_confirm": _("Delete this message?"),
        "reply_one": _("1 reply"),
        "replies": _("%(count)s replies"),
        "reply_to": _("↪ %(name)s: %(text)s"),
        "reply_to_deleted": _("↪ %(name)s: message deleted"),
        "reply_to_unknown": _("↪ In reply to an earlier message"),
        "replying_to": _("Replying to %(name)s: %(text)s"),
        "unread_line": _("New messages"),
        "mentioned_by": _("%(name)s mentioned you in #%(room)s"),
        "refused_action": _("Not done: %(detail)s"),
        "not_now": _("Not connected: try again in a moment."),
        "kicked": _("A moderator removed you from this room. Reload the page to try to join again."),
        "banned": _("You are banned from this namespace."),
        "removed": _("You are no longer a member here."),
        "not_allowed": _("You may not join this room."),
        "muted_until": _("You are muted until %(until)s."),
        "muted_forever": _("You are muted until the mute is lifted."),
    }


def legacy_index(request: HttpRequest) -> HttpResponse:
    """``/chat/``, the seed's and the tutorial's index: the room list is at ``/``."""
    return redirect("index", permanent=True)


def legacy_room(request: HttpRequest, name: str) -> HttpResponse:
    """``/chat/<name>/``, the tutorial's room page: the room page is ``/rooms/<name>/``."""
    return redirect(reverse("room", args=[name]), permanent=True)


# --- Namespaces, their rooms, members and moderation (docs/namespaces.md) -------------------------
#
# Every page asks ``access`` first: a namespace or room the visitor may not see (or that does not
# exist) is a 404 whoever asks, anonymous visitors included; a page for moderators or owners is a 403
# to a member without the role (a 404 to anyone else). Writes are POSTs (CSRF); kicks, bans, member
# removals and policy changes go through ``moderation`` so connected clients see them.


def caller_of(request: HttpRequest) -> Caller:
    user = request.user
    if user.is_authenticated:
        return Caller(user_id=user.pk, staff=user.is_staff)
    return access.GUEST


def ns_or_404(caller: Caller, name: str) -> NsAccess:
    if name == access.DM_NAMESPACE:
        raise Http404("no such namespace")
    try:
        return access.access_namespace(caller, name)
    except ProtocolError:
        raise Http404("no such namespace") from None


def require_moderator(ns: NsAccess) -> None:
    """Owners and moderators pass; a member gets a 403, anyone else a 404."""
    if not ns.moderator:
        raise PermissionDenied if ns.role is not None else Http404("no such page")


def require_owner(ns: NsAccess) -> None:
    if not ns.owner:
        raise PermissionDenied if ns.role is not None else Http404("no such page")


def may_create_namespace(request: HttpRequest) -> bool:
    user = request.user
    return user.is_authenticated and (user.is_staff or not settings.PARLEY_NAMESPACE_CREATION_STAFF_ONLY)


def room_url(ns_name: str, name: str) -> str:
    """The page of room ``name`` of namespace ``ns_name``."""
    if ns_name == protocol.PUBLIC:
        return reverse("room", args=[name])
    return reverse("ns_room", args=[ns_name, name])


def refused(request: HttpRequest, exc: ProtocolError) -> None:
    """Show why a change was not made (the server's words) at the top of the next page."""
    flash.error(request, _("Not done: %(detail)s") % {"detail": exc.detail})


def whole_number(value: str | None) -> int | None:
    """A form's whole number (blank: None); a bad one is refused like the API refuses it."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ProtocolError(
            ErrorCode.INVALID_FRAME, _("“%(value)s” is not a whole number") % {"value": value}
        ) from None


def number(value: str | None) -> float | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise ProtocolError(ErrorCode.INVALID_FRAME, _("“%(value)s” is not a number") % {"value": value}) from None


@require_POST
def ns_create(request: HttpRequest) -> HttpResponse:
    """``POST /ns/``: a new namespace with the caller as its owner (the form on the room list)."""
    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?next={reverse('index')}")
    visibility = request.POST.get("visibility", "open")
    try:
        ns = namespaces.ns_create(caller_of(request), request.POST.get("name", "").strip(), {"visibility": visibility})
    except ProtocolError as exc:
        refused(request, exc)
        return redirect("index")
    flash.success(request, _("Namespace “%(name)s” created.") % {"name": ns.namespace.name})
    return redirect("ns", ns.namespace.name)


@require_http_methods(["GET", "HEAD", "POST"])
def ns_page(request: HttpRequest, ns_name: str) -> HttpResponse:
    """``/ns/<ns>/``: the namespace's rooms the visitor may see; POST creates a room."""
    caller = caller_of(request)
    ns = ns_or_404(caller, ns_name)
    if request.method == "POST":
        private = request.POST.get("private") == "1"
        try:
            made = namespaces.room_create(caller, ns, request.POST.get("room", "").strip(), private=private)
        except ProtocolError as exc:
            refused(request, exc)
            return redirect("ns", ns.namespace.name)
        return redirect(room_url(ns.namespace.name, made.name))
    rooms = rooms_with_counts(request, access.visible_rooms(caller, ns))
    context = {
        "ns": ns,
        "ns_name": ns.namespace.name,
        "rooms": [{**item, "url": room_url(ns.namespace.name, item["room"].name)} for item in rooms],
        "may_create": ns.may_create_rooms(caller),
        "your_role": role_label(ns.role),
    }
    return render(request, "chat/ns.html", context)


def ns_room(request: HttpRequest, ns_name: str, name: str) -> HttpResponse:
    """``/ns/<ns>/<room>/``: a room of a namespace (a room of ``public`` is at ``/rooms/<room>/``)."""
    try:
        name = protocol.check_room_name(name)
    except ProtocolError:
        raise Http404("no such room") from None
    if ns_name == protocol.PUBLIC:
        return redirect("room", name)
    return room_page(request, ns_name, name)


@require_POST
def ns_guest_name(request: HttpRequest, ns_name: str, name: str) -> HttpResponse:
    try:
        name = protocol.check_room_name(name)
    except ProtocolError:
        raise Http404("no such room") from None
    return guest_name_for(request, ns_name, name)


@require_POST
def room_members(request: HttpRequest, ns_name: str, name: str) -> HttpResponse:
    """``POST /ns/<ns>/<room>/members/``: add (or remove) a member of a private room (its creator,
    moderators, owners)."""
    caller = caller_of(request)
    ns = ns_or_404(caller, ns_name)
    try:
        room_access = access.access_room(caller, ns, name)
    except ProtocolError:
        raise Http404("no such room") from None
    username = request.POST.get("username", "").strip()
    try:
        if request.POST.get("action") == "remove":
            moderation.from_sync(moderation.do_room_member_remove, caller, room_access, username)
            flash.success(request, _("%(name)s is no longer a member of the room.") % {"name": username})
        else:
            namespaces.room_member_add(caller, room_access, username)
            flash.success(request, _("%(name)s is a member of the room.") % {"name": username})
    except ProtocolError as exc:
        refused(request, exc)
    return redirect(room_url(ns.namespace.name, room_access.room.name))


@require_http_methods(["GET", "HEAD", "POST"])
def ns_join(request: HttpRequest, ns_name: str, code: str) -> HttpResponse:
    """``/ns/<ns>/join/<code>/``: an invite link. GET shows the namespace and a button (it changes
    nothing); POST joins. A wrong, used-up, expired or revoked code: 404."""
    try:
        invite = namespaces.invite_valid(ns_name, code)
    except ProtocolError:
        raise Http404("no such invite") from None
    caller = caller_of(request)
    if request.method == "POST":
        if caller.guest:
            return redirect(f"{reverse('login')}?next={request.path}")
        try:
            ns = namespaces.invite_redeem(caller, ns_name, code)
        except ProtocolError:
            raise Http404("no such invite") from None
        flash.success(request, _("You are a member of “%(name)s”.") % {"name": ns.namespace.name})
        return redirect("ns", ns.namespace.name)
    member = False
    if caller.user_id is not None:
        member = invite.namespace.memberships.filter(user_id=caller.user_id).exists()
    context = {"ns_name": invite.namespace.name, "member": member, "here": request.path}
    return render(request, "chat/ns_join.html", context)


def ns_audit(request: HttpRequest, ns_name: str) -> HttpResponse:
    """``/ns/<ns>/audit/``: the audit log, newest first (owners and moderators)."""
    ns = ns_or_404(caller_of(request), ns_name)
    require_moderator(ns)
    entries = namespaces.audit_entries(ns, limit=500)
    return render(request, "chat/ns_audit.html", {"ns": ns, "ns_name": ns.namespace.name, "entries": entries})


MEMBER_ACTIONS = ("add", "role", "remove", "invite", "revoke", "mute", "ban", "unmute", "unban", "kick")


@require_http_methods(["GET", "HEAD", "POST"])
def ns_members(request: HttpRequest, ns_name: str) -> HttpResponse:
    """``/ns/<ns>/members/``: members and roles, invites, mutes, bans and kicks (owners and moderators)."""
    caller = caller_of(request)
    ns = ns_or_404(caller, ns_name)
    require_moderator(ns)
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action not in MEMBER_ACTIONS:
            return HttpResponse(status=400)
        try:
            done = member_action(caller, ns, action, request.POST)
        except ProtocolError as exc:
            refused(request, exc)
        else:
            flash.success(request, done)
        return redirect("ns_members", ns.namespace.name)
    now = timezone.now()
    invites = [
        {"invite": i, "url": request.build_absolute_uri(namespaces.invite_url(i))}
        for i in Invite.objects.filter(namespace=ns.namespace, revoked=False)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .select_related("namespace")
        .order_by("-id")
    ]
    sanctions = (
        Sanction.objects.filter(namespace=ns.namespace)
        .filter(Q(until__isnull=True) | Q(until__gt=now))
        .select_related("user")
        .order_by("kind", "user__username")
    )
    context = {
        "ns": ns,
        "ns_name": ns.namespace.name,
        "members": namespaces.members(ns),
        "invites": invites,
        "sanctions": sanctions,
        "rooms": access.visible_rooms(caller, ns),
        "roles": role_choices(),
    }
    return render(request, "chat/ns_members.html", context)


def member_action(caller: Caller, ns: NsAccess, action: str, form: Any) -> str:
    """Do one of the members page's changes; return what to tell the moderator."""
    username = form.get("username", "").strip()
    reason = form.get("reason", "").strip()
    if action in ("add", "role"):
        added, role = moderation.from_sync(
            moderation.do_member_set, caller, ns, username, form.get("role", Role.MEMBER)
        )
        if added:
            return _("%(name)s is now a member (%(role)s).") % {"name": username, "role": role_label(role)}
        return _("%(name)s's role is now %(role)s.") % {"name": username, "role": role_label(role)}
    if action == "remove":
        moderation.from_sync(moderation.do_member_remove, caller, ns, username)
        return _("%(name)s is no longer a member.") % {"name": username}
    if action == "invite":
        expires_in = whole_number(form.get("expires_in"))
        max_uses = whole_number(form.get("max_uses"))
        namespaces.invite_create(caller, ns, expires_in=expires_in, max_uses=max_uses)
        return _("Invite link created.")
    if action == "revoke":
        namespaces.invite_revoke(caller, ns, form.get("code", ""))
        return _("Invite link revoked.")
    if action in ("mute", "ban"):
        seconds = whole_number(form.get("seconds"))
        if action == "mute":
            moderation.from_sync(moderation.do_mute, caller, ns, username, seconds=seconds, reason=reason)
            return _("%(name)s is muted.") % {"name": username}
        moderation.from_sync(moderation.do_ban, caller, ns, username, seconds=seconds, reason=reason)
        return _("%(name)s is banned.") % {"name": username}
    if action in ("unmute", "unban"):
        kind = Sanction.Kind.MUTE if action == "unmute" else Sanction.Kind.BAN
        moderation.from_sync(moderation.do_lift, caller, ns, kind, username)
        if action == "unmute":
            return _("%(name)s is no longer muted.") % {"name": username}
        return _("%(name)s is no longer banned.") % {"name": username}
    # kick
    room_access = access.access_room(caller, ns, form.get("room", ""))
    moderation.from_sync(moderation.do_kick, caller, room_access, username=username, reason=reason)
    return _("%(name)s was kicked from %(room)s.") % {"name": username, "room": room_access.room.name}


def role_choices() -> list[tuple[str, str]]:
    return [(Role.OWNER, _("Owner")), (Role.MODERATOR, _("Moderator")), (Role.MEMBER, _("Member"))]


def role_label(role: str | None) -> str:
    return dict(role_choices()).get(role or "", role or "")


@require_http_methods(["GET", "HEAD", "POST"])
def ns_settings(request: HttpRequest, ns_name: str) -> HttpResponse:
    """``/ns/<ns>/settings/``: the namespace's policy (owners)."""
    caller = caller_of(request)
    ns = ns_or_404(caller, ns_name)
    require_owner(ns)
    if request.method == "POST":
        form = request.POST
        try:
            fields: dict[str, Any] = {
                "visibility": form.get("visibility", ns.namespace.visibility),
                "allow_guests": form.get("allow_guests") == "1",
                "room_creation": form.get("room_creation", ns.namespace.room_creation),
            }
            for key in policy.OVERRIDES:
                fields[key] = number(form.get(key)) if key in FLOAT_OVERRIDES else whole_number(form.get(key))
            moderation.from_sync(moderation.do_ns_update, caller, ns, fields)
        except ProtocolError as exc:
            refused(request, exc)
        else:
            flash.success(request, _("Settings saved."))
        return redirect("ns_settings", ns.namespace.name)
    row = ns.namespace
    overrides = [
        {"key": key, "label": override_labels()[key], "value": getattr(row, key), "default": getattr(ns.policy, key)}
        for key in policy.OVERRIDES
    ]
    context = {"ns": ns, "ns_name": row.name, "row": row, "overrides": overrides}
    return render(request, "chat/ns_settings.html", context)


FLOAT_OVERRIDES = ("rate_per_sec", "edit_window")


def override_labels() -> dict[str, str]:
    return {
        "max_message_chars": _("Longest message (characters)"),
        "rate_per_sec": _("Messages per second per connection"),
        "rate_burst": _("Burst of messages"),
        "edit_window": _("Edit window (seconds, 0: no limit)"),
        "history_on_join": _("Messages shown on joining"),
        "retention_days": _("Days messages are kept (0: forever)"),
    }


@login_required
def dm_page(request: HttpRequest, username: str) -> HttpResponse:
    """``/dm/<username>/``: the direct messages of the logged-in user and ``username``."""
    assert request.user.is_authenticated  # login_required
    other = get_user_model().objects.filter(username=username).first()
    if other is None:
        raise Http404("no such user")
    name = other.get_username()
    key = protocol.room_address(access.DM_NAMESPACE, namespaces.dm_room_name(request.user.pk, other.pk))
    return render_chat(request, title=f"@{name}", key=key, ws=f"/ws/dm/{quote(name)}/", extra={"dm_with": name})
