"""A namespace's pages: its rooms, members and moderation, invites, audit log, settings.

Every page asks ``access`` first: a namespace or room the visitor may not see (or that does not
exist) is a 404 whoever asks, anonymous visitors included; a page for moderators or owners is a 403
to a member without the role (a 404 to anyone else). Writes are POSTs (CSRF); kicks, bans, member
removals and policy changes go through ``moderation`` so connected clients see them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages as flash
from django.db.models import F, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chat import access, moderation, namespaces, policy, protocol, words
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
from chat.views.rooms import (
    guest_name_for,
    no_store_json,
    render_index,
    room_figures,
    room_page,
    rooms_with_counts,
)

# Where the members page shows the error of an action: at its form.
FORM_OF = {
    "add": "member_add",
    "role": "members",
    "remove": "members",
    "invite": "invite_create",
    "revoke": "invites",
    "mute": "sanction",
    "ban": "sanction",
    "unmute": "sanctions",
    "unban": "sanctions",
    "kick": "kick",
}
MEMBER_ACTIONS = tuple(FORM_OF)
# Actions that are asked about first ("Ban alice?"): the form says confirm=1 once the moderator agreed.
CONFIRMED = frozenset({"remove", "ban", "revoke"})

# A form refused for a code answers with its status (the page shows why); any other refusal is 400.
FORM_STATUS = {ErrorCode.FORBIDDEN: 403, ErrorCode.CONFLICT: 409, ErrorCode.MUTED: 403}

# The durations a moderator picks from (seconds); "custom" takes a number and a unit.
DURATION_CHOICES = ("3600", "86400", "604800", "custom")
UNITS = {"minutes": 60, "hours": 3600, "days": 86400}


def refused(request: HttpRequest, exc: ProtocolError) -> None:
    """Show why a change was not made, in the page's words, at the top of the next page."""
    flash.error(request, _("Not done: %(reason)s") % {"reason": words.error(exc.code)})


class FormError(Exception):
    """A form's field that cannot be used, with what to tell the person who filled it in."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def whole_number(form: Any, field: str, *, minimum: int = 0) -> int | None:
    """A form's whole number (blank: None), else FormError."""
    value = (form.get(field) or "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or int(value) < minimum or len(value) > 18:
        raise FormError(
            field, _("“%(value)s” is not a whole number of %(minimum)s or more.") % {"value": value, "minimum": minimum}
        )
    return int(value)


def number(form: Any, field: str) -> float | None:
    value = (form.get(field) or "").strip()
    if not value:
        return None
    try:
        result = float(value)
    except ValueError:
        result = float("nan")
    if result != result or result in (float("inf"), float("-inf")):
        raise FormError(field, _("“%(value)s” is not a number.") % {"value": value})
    return result


def duration(form: Any, field: str = "duration") -> int | None:
    """Seconds from a duration picker: one of DURATION_CHOICES, a custom number of minutes, hours
    or days, or blank (no end: until lifted, or never). A form without the picker may say
    ``seconds`` (as the API does)."""
    if field not in form and "seconds" in form:
        return whole_number(form, "seconds", minimum=1)
    picked = form.get(field, "")
    if not picked:
        return None
    if picked == "custom":
        amount = whole_number(form, f"{field}_amount", minimum=1)
        unit = UNITS.get(form.get(f"{field}_unit", ""))
        if amount is None or unit is None:
            raise FormError(f"{field}_amount", _("Give a number of minutes, hours or days."))
        return amount * unit
    if picked not in DURATION_CHOICES:
        raise FormError(field, _("Pick a duration."))
    return int(picked)


def duration_choices() -> list[tuple[str, str]]:
    return [
        ("3600", _("1 hour")),
        ("86400", _("1 day")),
        ("604800", _("1 week")),
        ("custom", _("Custom…")),
    ]


def unit_choices() -> list[tuple[str, str]]:
    return [("minutes", _("minutes")), ("hours", _("hours")), ("days", _("days"))]


@require_POST
def ns_create(request: HttpRequest) -> HttpResponse:
    """``POST /ns/``: a new namespace with the caller as its owner (the form on the room list); a
    name that cannot be used shows the room list again with the error at the form, as typed."""
    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?next={reverse('index')}")
    typed = request.POST.get("name", "").strip()
    visibility = request.POST.get("visibility", "open")
    try:
        ns = namespaces.ns_create(caller_of(request), typed, {"visibility": visibility})
    except ProtocolError as exc:
        if exc.code == ErrorCode.CONFLICT:
            error = _("A namespace called “%(name)s” exists already.") % {"name": typed}
        elif exc.code == ErrorCode.INVALID_ROOM:
            error = name_error(typed)
        else:
            error = words.error(exc.code)
        status = FORM_STATUS.get(exc.code, 400)
        return render_index(request, ns_error=error, ns_typed=typed, ns_visibility=visibility, status=status)
    flash.success(request, _("Namespace “%(name)s” created.") % {"name": ns.namespace.name})
    return redirect("ns", ns.namespace.name)


def name_error(typed: str) -> str:
    """What is wrong with a namespace's or a room's name that cannot be used."""
    if not typed:
        return _("Type a name.")
    return _("“%(name)s” cannot be a name: use 1 to 64 letters, digits, “-”, “_” or “.” (no spaces).") % {
        "name": typed[:80]
    }


@require_http_methods(["GET", "HEAD", "POST"])
def ns_page(request: HttpRequest, ns_name: str) -> HttpResponse:
    """``/ns/<ns>/``: the namespace's rooms the visitor may see (their figures kept current by
    rooms.js from ``ns_rooms_json``); POST creates a room (an error: the page again, the name as
    typed). A banned visitor is told so, until when and why."""
    caller = caller_of(request)
    ns = ns_or_404(caller, ns_name)
    error, typed, status = None, "", 200
    if request.method == "POST":
        typed = request.POST.get("room", "").strip()
        private = request.POST.get("private") == "1"
        try:
            made = namespaces.room_create(caller, ns, typed, private=private)
        except ProtocolError as exc:
            status = FORM_STATUS.get(exc.code, 400)
            if exc.code == ErrorCode.CONFLICT:
                error = _("A room called “%(name)s” exists already.") % {"name": typed}
            elif exc.code == ErrorCode.INVALID_ROOM:
                error = name_error(typed)
            else:
                error = words.error(exc.code)
        else:
            return redirect(room_url(ns.namespace.name, made.name))
    rooms = rooms_with_counts(request, access.visible_rooms(caller, ns))
    banned, until = access.sanction_until(caller, ns, Sanction.Kind.BAN)
    context = {
        "ns": ns,
        "ns_name": ns.namespace.name,
        "rooms": [{**item, "url": room_url(ns.namespace.name, item["room"].name)} for item in rooms],
        "may_create": ns.may_create_rooms(caller) and not banned,
        "your_role": words.role(ns.role),
        "refresh": settings.PARLEY_ROOM_LIST_REFRESH,
        "error": error,
        "typed": typed,
        "private_typed": request.method == "POST" and request.POST.get("private") == "1",
        "ban": _ban_of(caller, ns) if banned else None,
        "ban_until": until,
    }
    return render(request, "chat/ns.html", context, status=status)


def _ban_of(caller: Caller, ns: NsAccess) -> Sanction | None:
    if caller.user_id is None:
        return None
    return Sanction.objects.filter(namespace=ns.namespace, user_id=caller.user_id, kind=Sanction.Kind.BAN).first()


@require_GET
def ns_rooms_json(request: HttpRequest, ns_name: str) -> HttpResponse:
    """``/ns/<ns>/rooms.json``: the namespace page's figures, for rooms.js (as ``/rooms.json``)."""
    caller = caller_of(request)
    ns = ns_or_404(caller, ns_name)
    rooms = rooms_with_counts(request, access.visible_rooms(caller, ns))
    return no_store_json({"rooms": room_figures(rooms, url=lambda name: room_url(ns.namespace.name, name))})


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
        if exc.code == ErrorCode.NOT_FOUND:
            flash.error(request, _("There is no account called “%(name)s”.") % {"name": username})
        else:
            refused(request, exc)
    return redirect(room_url(ns.namespace.name, room_access.room.name))


@require_http_methods(["GET", "HEAD", "POST"])
def ns_join(request: HttpRequest, ns_name: str, code: str) -> HttpResponse:
    """``/ns/<ns>/join/<code>/``: an invite link. GET shows the namespace and a button (it changes
    nothing); POST joins. A link that was used up, has expired or was revoked says so (410); a code
    that names no invite of that namespace is the 404 page, whether the namespace is hidden or
    missing."""
    state, invite = namespaces.invite_state(ns_name, code)
    if invite is None:
        raise Http404("no such invite")
    if state != namespaces.INVITE_VALID:
        return render(request, "chat/ns_join.html", {"ns_name": ns_name, "state": state}, status=410)
    caller = caller_of(request)
    if request.method == "POST":
        if caller.guest:
            return redirect(f"{reverse('login')}?next={request.path}")
        try:
            ns = namespaces.invite_redeem(caller, ns_name, code)
        except ProtocolError:
            return render(request, "chat/ns_join.html", {"ns_name": ns_name, "state": "used_up"}, status=410)
        flash.success(request, _("You are a member of “%(name)s”.") % {"name": ns.namespace.name})
        return redirect("ns", ns.namespace.name)
    member = False
    if caller.user_id is not None:
        member = invite.namespace.memberships.filter(user_id=caller.user_id).exists()
    context = {"ns_name": invite.namespace.name, "member": member, "here": request.path, "state": state}
    return render(request, "chat/ns_join.html", context)


def ns_audit(request: HttpRequest, ns_name: str) -> HttpResponse:
    """``/ns/<ns>/audit/``: the audit log, newest first (owners and moderators), in the reader's
    words (``chat.words``): actions, roles, the parts Parley wrote itself."""
    ns = ns_or_404(caller_of(request), ns_name)
    require_moderator(ns)
    actions = words.audit_actions()
    entries = []
    for entry in namespaces.audit_entries(ns, limit=500):
        about, code = words.audit_reason(entry["action"], entry["reason"])
        entries.append({**entry, "label": actions.get(entry["action"], entry["action"]), "about": about, "code": code})
    return render(request, "chat/ns_audit.html", {"ns": ns, "ns_name": ns.namespace.name, "entries": entries})


@require_http_methods(["GET", "HEAD", "POST"])
def ns_members(request: HttpRequest, ns_name: str) -> HttpResponse:
    """``/ns/<ns>/members/``: members and roles, invites, mutes, bans and kicks (owners and
    moderators), each row offering only what the viewer may do. Removing, banning and revoking are
    asked about first (``confirm``). A refusal shows the page again with the error at its form and
    what was typed."""
    caller = caller_of(request)
    ns = ns_or_404(caller, ns_name)
    require_moderator(ns)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action not in MEMBER_ACTIONS:
            return HttpResponse(status=400)
        if action in CONFIRMED and request.POST.get("confirm") != "1":
            return render(request, "chat/confirm.html", confirm_context(ns, action, request.POST))
        try:
            done = member_action(caller, ns, action, request.POST)
        except ProtocolError as exc:
            errors[FORM_OF[action]] = member_refusal(action, exc, request.POST)
            status = FORM_STATUS.get(exc.code, 400)
        except FormError as exc:
            errors[FORM_OF[action]] = exc.message
            status = 400
        else:
            flash.success(request, done)
            return redirect("ns_members", ns.namespace.name)
    context = members_context(request, caller, ns)
    context.update(errors=errors, typed=request.POST if errors else {}, action=request.POST.get("action", ""))
    return render(request, "chat/ns_members.html", context, status=status)


def members_context(request: HttpRequest, caller: Caller, ns: NsAccess) -> dict[str, Any]:
    now = timezone.now()
    invites = [
        {"invite": i, "url": request.build_absolute_uri(namespaces.invite_url(i))}
        for i in Invite.objects.filter(namespace=ns.namespace, revoked=False)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .filter(Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses")))
        .select_related("namespace")
        .order_by("-id")
    ]
    sanctions = (
        Sanction.objects.filter(namespace=ns.namespace)
        .filter(Q(until__isnull=True) | Q(until__gt=now))
        .select_related("user")
        .order_by("kind", "user__username")
    )
    me = request.user.get_username()
    members = [
        {
            **m,
            "role_label": words.role(m["role"]),
            # Owners change any role and remove anyone; moderators remove members only; anyone leaves.
            "may_change_role": ns.owner,
            "may_remove": ns.owner or m["role"] == Role.MEMBER or m["username"] == me,
        }
        for m in namespaces.members(ns)
    ]
    return {
        "ns": ns,
        "ns_name": ns.namespace.name,
        "members": members,
        "invites": invites,
        "sanctions": sanctions,
        "rooms": access.visible_rooms(caller, ns),
        "roles": [(value, label) for value, label in words.roles().items() if ns.owner or value == Role.MEMBER],
        "all_roles": list(words.roles().items()),
        "durations": duration_choices(),
        "units": unit_choices(),
    }


def confirm_context(ns: NsAccess, action: str, form: Any) -> dict[str, Any]:
    """The question asked before removing, banning or revoking, and the form that goes on."""
    username = form.get("username", "")
    if action == "remove":
        question = _("Remove %(name)s from the namespace?") % {"name": username}
    elif action == "ban":
        try:
            seconds = duration(form)
        except FormError:
            seconds = None
        if seconds is None:
            question = _("Ban %(name)s from the namespace until the ban is lifted?") % {"name": username}
        else:
            question = _("Ban %(name)s from the namespace for %(duration)s?") % {
                "name": username,
                "duration": words.duration(seconds),
            }
    else:
        question = _("Revoke this invite link? It stops working at once.")
    fields = [(k, v) for k, v in form.items() if k not in ("csrfmiddlewaretoken", "confirm")]
    return {"ns": ns, "ns_name": ns.namespace.name, "question": question, "fields": fields, "action": action}


def member_refusal(action: str, exc: ProtocolError, form: Any) -> str:
    """Why a members page's change was refused, in the page's words."""
    username = form.get("username", "").strip()
    if exc.code == ErrorCode.NOT_FOUND and action not in ("revoke", "unmute", "unban", "kick"):
        return _("There is no account called “%(name)s”.") % {"name": username}
    if exc.code == ErrorCode.NOT_FOUND and action in ("unmute", "unban"):
        return _("%(name)s is not muted or banned.") % {"name": username}
    if exc.code == ErrorCode.NOT_FOUND and action == "kick":
        return _("There is no such room or account.")
    if exc.code == ErrorCode.CONFLICT and action in ("mute", "ban", "kick"):
        return _("You cannot mute, ban or kick yourself.")
    if exc.code == ErrorCode.CONFLICT:
        return _("A namespace must keep at least one owner.")
    if exc.code == ErrorCode.FORBIDDEN and action in ("mute", "ban", "kick"):
        return _(
            "Owners cannot be muted, banned or kicked, and only an owner may do it to a moderator: "
            "change their role first."
        )
    return words.error(exc.code)


def member_action(caller: Caller, ns: NsAccess, action: str, form: Any) -> str:
    """Do one of the members page's changes; return what to tell the moderator."""
    username = form.get("username", "").strip()
    reason = form.get("reason", "").strip()
    if action in ("add", "role"):
        added, role = moderation.from_sync(
            moderation.do_member_set, caller, ns, username, form.get("role", Role.MEMBER)
        )
        if added:
            return _("%(name)s is now a member (%(role)s).") % {"name": username, "role": words.role(role)}
        return _("%(name)s's role is now %(role)s.") % {"name": username, "role": words.role(role)}
    if action == "remove":
        moderation.from_sync(moderation.do_member_remove, caller, ns, username)
        return _("%(name)s is no longer a member.") % {"name": username}
    if action == "invite":
        expires_in = duration(form, "expires")
        max_uses = whole_number(form, "max_uses", minimum=1)
        namespaces.invite_create(caller, ns, expires_in=expires_in, max_uses=max_uses)
        return _("Invite link created.")
    if action == "revoke":
        namespaces.invite_revoke(caller, ns, form.get("code", ""))
        return _("Invite link revoked.")
    if action in ("mute", "ban"):
        seconds = duration(form)
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


@require_http_methods(["GET", "HEAD", "POST"])
def ns_settings(request: HttpRequest, ns_name: str) -> HttpResponse:
    """``/ns/<ns>/settings/``: the namespace's policy (owners). Every field is checked before
    anything is saved; the errors are all shown at once, at their fields, with what was typed."""
    caller = caller_of(request)
    ns = ns_or_404(caller, ns_name)
    require_owner(ns)
    errors: dict[str, str] = {}
    form = request.POST
    if request.method == "POST":
        fields: dict[str, Any] = {
            "visibility": form.get("visibility", ns.namespace.visibility),
            "allow_guests": form.get("allow_guests") == "1",
            "room_creation": form.get("room_creation", ns.namespace.room_creation),
        }
        for key in policy.OVERRIDES:
            try:
                fields[key] = number(form, key) if key in FLOAT_OVERRIDES else whole_number(form, key)
            except FormError as exc:
                errors[key] = exc.message
                continue
            low, high = namespaces.POLICY_BOUNDS[key]
            if fields[key] is not None and not low <= fields[key] <= high:
                errors[key] = _("Give a value from %(low)s to %(high)s.") % {"low": f"{low:g}", "high": f"{high:g}"}
        if not errors:
            try:
                moderation.from_sync(moderation.do_ns_update, caller, ns, fields)
            except ProtocolError as exc:
                errors["form"] = words.error(exc.code)
            else:
                flash.success(request, _("Settings saved."))
                return redirect("ns_settings", ns.namespace.name)
    row = ns.namespace
    labels = words.policy_fields()
    overrides = [
        {
            "key": key,
            "label": labels[key],
            "value": form.get(key, "") if errors else _plain(getattr(row, key)),
            "default": _plain(getattr(ns.policy, key)),
            "error": errors.get(key),
        }
        for key in policy.OVERRIDES
    ]
    context = {
        "ns": ns,
        "ns_name": row.name,
        "row": row,
        "overrides": overrides,
        "errors": errors,
        "visibility": form.get("visibility", row.visibility) if errors else row.visibility,
        "allow_guests": (form.get("allow_guests") == "1") if errors else row.allow_guests,
        "room_creation": form.get("room_creation", row.room_creation) if errors else row.room_creation,
    }
    return render(request, "chat/ns_settings.html", context, status=400 if errors else 200)


FLOAT_OVERRIDES = ("rate_per_sec", "edit_window")


def _plain(value: Any) -> str:
    """A number as a person writes it: 10, not 10.0; 2.5 as it is; nothing for None."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
