"""A namespace's pages: its rooms, members and moderation, invites, audit log, settings.

Every page asks ``access`` first: a namespace or room the visitor may not see (or that does not
exist) is a 404 whoever asks, anonymous visitors included; a page for moderators or owners is a 403
to a member without the role (a 404 to anyone else). Writes are POSTs (CSRF); kicks, bans, member
removals and policy changes go through ``moderation`` so connected clients see them.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from chat import access, moderation, namespaces, policy, protocol
from chat.access import Caller, NsAccess
from chat.models import Invite, Role, Sanction
from chat.protocol import ErrorCode, ProtocolError
from chat.views.common import (
    caller_of,
    ns_or_404,
    require_moderator,
    require_owner,
    room_url,
)
from chat.views.rooms import guest_name_for, room_page, rooms_with_counts


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
