"""Pages. The room page's live part is the native WebSocket protocol (static/chat/room.js)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from . import protocol, pubsub, selectors
from .protocol import ProtocolError


def index(request: HttpRequest) -> HttpResponse:
    """The room list (newest activity first) and a form to join or create a room."""
    error = None
    if request.method == "POST":
        try:
            name = protocol.check_room_name(request.POST.get("room", "").strip())
        except ProtocolError as exc:
            error = exc.detail
        else:
            return redirect(reverse("room", args=[name]))
    rooms = selectors.room_list()
    online = pubsub.online_counts(keys=[protocol.room_key(r.name) for r in rooms])
    listing = [{"room": r, "online": online.get(protocol.room_key(r.name), 0)} for r in rooms]
    return render(request, "chat/index.html", {"rooms": listing, "error": error}, status=400 if error else 200)


def room(request: HttpRequest, name: str) -> HttpResponse:
    try:
        name = protocol.check_room_name(name)
    except ProtocolError as exc:
        return HttpResponseBadRequest(
            _("Invalid room name: %(detail)s") % {"detail": exc.detail}, content_type="text/plain; charset=utf-8"
        )
    return render(request, "chat/room.html", {"room_name": name})


def legacy_index(request: HttpRequest) -> HttpResponse:
    """``/chat/``, the seed's and the tutorial's index: the room list is at ``/``."""
    return redirect("index", permanent=True)


def legacy_room(request: HttpRequest, name: str) -> HttpResponse:
    """``/chat/<name>/``, the tutorial's room page: the room page is ``/rooms/<name>/``."""
    return redirect(reverse("room", args=[name]), permanent=True)
