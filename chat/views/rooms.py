"""The room list, a room's page, guest names, mentions, direct messages, the old URLs."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from chat import access, identity, namespaces, protocol, selectors, words
from chat.access import Caller, NsAccess, RoomAccess
from chat.fanout import pubsub
from chat.models import Room
from chat.protocol import ErrorCode, ProtocolError
from chat.views.common import caller_of, may_create_namespace, ns_or_404, room_url
from core.clientaddr import client_address

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
        except ProtocolError:
            error = room_name_error(typed)
        else:
            return redirect(reverse("room", args=[name]))
    return render_index(request, error=error, typed=typed, status=400 if error else 200)


def render_index(
    request: HttpRequest,
    *,
    error: str | None = None,
    typed: str = "",
    ns_error: str | None = None,
    ns_typed: str = "",
    ns_visibility: str = "open",
    status: int = 200,
) -> HttpResponse:
    """The room list page, with an error at the room form or at the namespace form, as typed."""
    caller = caller_of(request)
    context = {
        "rooms": room_listing(request),
        "error": error,
        "typed": typed,
        "ns_error": ns_error,
        "ns_typed": ns_typed,
        "ns_visibility": ns_visibility,
        "refresh": settings.PARLEY_ROOM_LIST_REFRESH,
        "dms": dms_of(caller),
        "namespaces": [ns for ns in access.visible_namespaces(caller) if not ns.policy.public],
        "may_create_ns": may_create_namespace(request),
    }
    return render(request, "chat/index.html", context, status=status)


def dms_of(caller: Caller) -> list[dict[str, Any]]:
    """The caller's direct messages with their pages' URLs."""
    return [{**dm, "url": reverse("dm", args=[dm["username"]])} for dm in namespaces.dm_list(caller)]


@require_GET
def rooms_json(request: HttpRequest) -> HttpResponse:
    """``/rooms.json``: the room list's figures, what the page shows and no more, for rooms.js to
    refresh them (``room_figures``), and a logged-in user's direct messages (``dms``: a new one
    appears on the page without a reload). The session says who is asking (no CSRF: a read)."""
    body: dict[str, Any] = {"rooms": room_figures(room_listing(request), url=lambda name: reverse("room", args=[name]))}
    if request.user.is_authenticated:
        body["dms"] = [
            {"username": dm["username"], "unread": dm["unread"], "last_id": dm["last_id"], "url": dm["url"]}
            for dm in dms_of(caller_of(request))
        ]
    return no_store_json(body)


def room_figures(rooms: list[dict[str, Any]], *, url: Callable[[str], str]) -> list[dict[str, Any]]:
    """Each listed room as rooms.js wants it: ``{"name", "url", "unread", "online", "last_id"}``,
    newest activity first; ``unread`` is null for an anonymous visitor."""
    return [
        {
            "name": item["room"].name,
            "url": url(item["room"].name),
            "unread": item["unread"],
            "online": item["online"],
            "last_id": item["room"].last_id,
        }
        for item in rooms
    ]


def no_store_json(body: dict[str, Any]) -> HttpResponse:
    response = JsonResponse(body)
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
        {
            "mention": m,
            "url": address_url(m.address, dm_with=m.sender) + f"#m{m.id}",
            "where": where(m.address, m.sender),
        }
        for m in selectors.mentions_recent(user_id=request.user.pk, limit=MENTIONS_SHOWN)
    ]
    return render(request, "chat/mentions.html", {"mentions": items, "shown": MENTIONS_SHOWN})


def where(address: str, sender: str) -> str:
    """Where a room is, for a list of several namespaces: "#lobby", "class / #lobby", "@kim" (a
    direct message, named by its other party)."""
    ns, _slash, name = address.rpartition("/")
    if ns == access.DM_NAMESPACE:
        return _("@%(name)s (direct message)") % {"name": sender}
    return f"{ns} / #{name}" if ns else f"#{name}"


def address_url(address: str, *, dm_with: str = "") -> str:
    """The page of the room at ``address`` (``protocol.room_address``); a direct message's is
    ``/dm/<dm_with>/`` (its other party)."""
    ns, _, name = address.rpartition("/")
    if ns == access.DM_NAMESPACE:
        return reverse("dm", args=[dm_with])
    return room_url(ns or protocol.PUBLIC, name)


def room_name_error(typed: str) -> str:
    """The message shown for a room name that cannot be used."""
    if not typed:
        return _("Type a room name.")
    return _("“%(name)s” cannot be a room name: use 1 to 64 letters, digits, “-”, “_” or “.” (no spaces).") % {
        "name": typed[:80]
    }


def with_room_name(view: Callable[[HttpRequest, str], HttpResponse]) -> Callable[[HttpRequest, str], HttpResponse]:
    """Check the room name in the URL: the view gets it normalised (NFC); an invalid one gets a 400 page."""

    @functools.wraps(view)
    def checked(request: HttpRequest, name: str) -> HttpResponse:
        try:
            name = protocol.check_room_name(name)
        except ProtocolError:
            return render(request, "chat/bad_room.html", {"error": room_name_error(name)}, status=400)
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
    api = (
        f"/api/v1/rooms/{quote(name)}"
        if ns.policy.public
        else f"/api/v1/ns/{quote(ns.namespace.name)}/rooms/{quote(name)}"
    )
    return render_chat(
        request,
        title=name,
        key=key,
        ws=ws,
        moderator=ns.moderator,
        extra=extra,
        api=api,
        uploads=ns.policy.uploads,
        room=found,
    )


def render_chat(
    request: HttpRequest,
    *,
    title: str,
    key: str,
    ws: str,
    api: str,
    uploads: bool,
    room: Room | None,
    moderator: bool = False,
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    """The chat page: ``ws`` is the WebSocket path it opens, ``key`` names the room in the browser's
    storage (the room's address), ``api`` is the room's path in the REST API (its uploads and
    notification level); ``uploads``: the namespace takes files; ``moderator``: the page offers to
    delete anyone's message. A logged-in user gets the upload and notification settings; a guest
    neither (the API does not take guests)."""
    user = request.user if request.user.is_authenticated else None
    dm = key.startswith(f"{access.DM_NAMESPACE}/")
    config = {
        "room": title,
        "key": key,
        "ws": ws,
        # The room in the REST API: its events (the SSE door) when WebSocket is blocked, and the
        # routes the page then sends through.
        "api": api,
        "moderator": moderator,
        "olderPage": OLDER_PAGE,
        "strings": room_strings(),
        "dm": dm,  # a direct message: its dm frames notify, not its message frames
        "previewUrl": reverse("preview"),
        # Uploads: where to send a file (null: no attach button), the limits the page checks first.
        "uploadUrl": f"{api}/uploads" if user is not None and uploads else None,
        "maxUploadBytes": settings.PARLEY_UPLOAD_MAX_BYTES,
        "maxAttachments": protocol.MAX_ATTACHMENTS,
        # Notifications: the level kept on the server (GET/PUT notifyUrl), null for a guest.
        "notifyUrl": f"{api}/notifications" if user is not None else None,
        "notifyLevel": notify_level(user.pk, room, dm=dm) if user else None,
    }
    guest = not request.user.is_authenticated
    you = request.session.get(identity.GUEST_NAME_SESSION_KEY, "") if guest else request.user.get_username()
    context = {"room_name": title, "config": config, "guest": guest, "you": you, **(extra or {})}
    return render(request, "chat/room.html", context)


def notify_level(user_id: int, room: Room | None, *, dm: bool) -> str:
    """The user's notification level for ``room`` (a room not made yet: the default)."""
    if room is None:
        return "all" if dm else "mentions"
    return selectors.notify_level(user_id=user_id, room=room)


def room_strings() -> dict[str, Any]:
    """The room page's words that room.js shows, translated; ``%(x)s`` placeholders are filled in JS."""
    return {
        "connecting": _("Connecting…"),
        "live": _("Live"),
        "live_http": _("Connected over HTTP (WebSocket blocked)"),
        "http_guest": _("Log in to send messages while WebSocket is blocked."),
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
        "bot": _("bot"),  # the badge of a bot's (or a webhook's) messages and presence entry
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
        "load_newer": _("Newer messages are not shown here: show them"),
        "mentioned_by": _("%(name)s mentioned you in #%(room)s"),
        "refused_action": _("Not done: %(detail)s"),
        "not_now": _("Not connected: try again in a moment."),
        "kicked": _("A moderator removed you from this room. Reload the page to try to join again."),
        "banned": _("You are banned from this namespace."),
        "removed": _("You are no longer a member here."),
        "not_allowed": _("You may not join this room."),
        "muted_until": _("You are muted until %(until)s."),
        "muted_forever": _("You are muted until the mute is lifted."),
        "muted_short": _("You are muted."),
        "banned_until": _("The ban ends %(until)s."),
        "reason_given": _("Reason given: %(reason)s"),
        "not_in_room": _("You are not in this room any more."),
        # The composer's tools and files.
        "preview_empty": _("Nothing to preview yet."),
        "preview_failed": _("No preview: %(detail)s"),
        "uploading": _("Uploading files…"),
        "upload_failed": _("Not uploaded: %(detail)s"),
        "remove_file": _("Remove %(name)s"),
        "file_too_large": _("“%(name)s” is larger than %(limit)s, the most a file may be."),
        "too_many_files": _("A message may carry at most %(max)s files."),
        # Notifications.
        "notify_dm": _("%(name)s sent you a direct message"),
        "notify_message": _("%(name)s in #%(room)s"),
        "notify_file": _("Sent a file"),
        "level_not_saved": _("The notification setting was not saved: %(detail)s"),
        "codes": {**words.error_codes(), "unknown": words.error("")},
        # A refused upload's words, where they differ from the code's for a message.
        "upload_codes": {
            ErrorCode.TOO_LARGE: _("The file is too large, or your files take up all the space you have."),
            ErrorCode.FORBIDDEN: _("Files may not be shared here."),
            ErrorCode.RATE_LIMITED: _("Too many files at once: wait a minute, then try again."),
            "invalid_file": _("The file is not what its name says, or it cannot be read."),
        },
    }


def legacy_index(request: HttpRequest) -> HttpResponse:
    """``/chat/``, the seed's and the tutorial's index: the room list is at ``/``."""
    return redirect("index", permanent=True)


def legacy_room(request: HttpRequest, name: str) -> HttpResponse:
    """``/chat/<name>/``, the tutorial's room page: the room page is ``/rooms/<name>/``."""
    return redirect(reverse("room", args=[name]), permanent=True)


@login_required
def dm_page(request: HttpRequest, username: str) -> HttpResponse:
    """``/dm/<username>/``: the direct messages of the logged-in user and ``username``."""
    assert request.user.is_authenticated  # login_required
    other = get_user_model().objects.filter(username=username).first()
    if other is None:
        raise Http404("no such user")
    name = other.get_username()
    key = protocol.room_address(access.DM_NAMESPACE, namespaces.dm_room_name(request.user.pk, other.pk))
    room = Room.objects.filter(address=key).first()
    return render_chat(
        request,
        title=f"@{name}",
        key=key,
        ws=f"/ws/dm/{quote(name)}/",
        api=f"/api/v1/dm/{quote(name)}",
        uploads=settings.PARLEY_UPLOADS,
        room=room,
        extra={"dm_with": name},
    )
