"""``/ns/<ns>/hooks/``: the namespace's webhooks (owners and moderators): incoming hooks (make one:
its URL shown once; revoke) and outgoing hooks (make one: its secret shown once; delete; resume a
paused one, whose reason is shown; the last attempts). A member without the role gets a 403,
anyone else a 404."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from chat import access
from chat.access import Caller, NsAccess
from chat.protocol import ErrorCode, ProtocolError
from chat.views.common import caller_of, ns_or_404, require_moderator
from chat.words import error as error_text

from . import receivers, services

DELIVERIES_ON_PAGE = 10


# The page's words for the event kinds (the API and the payloads keep the kinds themselves).
KIND_LABELS = {
    "message": gettext_lazy("messages"),
    "edit": gettext_lazy("edits"),
    "delete": gettext_lazy("deletes"),
    "reaction": gettext_lazy("reactions"),
    "mention": gettext_lazy("mentions of a bot"),
}


def _id(request: HttpRequest) -> int:
    try:
        return int(request.POST.get("id", ""))
    except ValueError:
        raise ProtocolError(ErrorCode.NOT_FOUND, "no such hook") from None


def _act(request: HttpRequest, caller: Caller, ns: NsAccess, action: str) -> dict[str, Any] | None:
    """Do ``action``; what to show once (a new URL or secret), or None."""
    post = request.POST
    if action == "incoming_create":
        grant = access.access_room(caller, ns, post.get("room", ""))
        _hook, secret = services.incoming_create(caller, grant, post.get("name", ""))
        return {"kind": "incoming", "value": request.build_absolute_uri(services.PREFIX + secret)}
    if action == "incoming_revoke":
        services.incoming_revoke(caller, ns, _id(request))
        flash.success(request, _("The incoming webhook was revoked."))
    elif action == "outgoing_create":
        url = post.get("url", "")
        try:
            async_to_sync(receivers.check_host)(receivers.check_url(url), unresolved_ok=True)
        except receivers.Private as exc:
            raise ProtocolError(ErrorCode.FORBIDDEN, str(exc)) from None
        except receivers.Refused as exc:
            raise ProtocolError(ErrorCode.INVALID_FRAME, str(exc)) from None
        room = post.get("room", "").strip() or None
        _made, secret = services.outgoing_create(caller, ns, url, post.getlist("events"), room)
        return {"kind": "outgoing", "value": secret}
    elif action == "outgoing_delete":
        services.outgoing_delete(caller, ns, _id(request))
        flash.success(request, _("The outgoing webhook was deleted."))
    elif action == "outgoing_resume":
        services.outgoing_resume(caller, ns, _id(request))
        flash.success(request, _("The outgoing webhook was resumed."))
    else:
        raise ProtocolError(ErrorCode.INVALID_FRAME, "unknown action")
    return None


@require_http_methods(["GET", "POST"])
def hooks_page(request: HttpRequest, ns_name: str) -> HttpResponse:
    caller = caller_of(request)
    ns = ns_or_404(caller, ns_name)
    require_moderator(ns)
    error = ""
    status = 200
    shown = None
    if request.method == "POST":
        try:
            shown = _act(request, caller, ns, request.POST.get("action", ""))
        except ProtocolError as exc:
            error = error_text(exc.code)
            if exc.code in (ErrorCode.INVALID_FRAME, ErrorCode.FORBIDDEN):
                error = f"{error} {exc.detail}"
            status = {ErrorCode.NOT_FOUND: 404, ErrorCode.FORBIDDEN: 403}.get(exc.code, 400)
        else:
            if shown is None:
                return redirect("ns_hooks", ns.namespace.name)
    outgoing = []
    for hook in services.outgoing_list(ns):
        out = services.outgoing_out(hook)
        outgoing.append(
            {
                **out,
                "event_labels": [str(KIND_LABELS.get(kind, kind)) for kind in out["events"]],
                "deliveries": services.deliveries(ns, hook.pk)[:DELIVERIES_ON_PAGE],
            }
        )
    context = {
        "ns": ns,
        "ns_name": ns.namespace.name,
        "incoming": [services.incoming_out(h) for h in services.incoming_list(ns)],
        "outgoing": outgoing,
        "kinds": [(kind, KIND_LABELS.get(kind, kind)) for kind in services.KINDS],
        "shown": shown,
        "error": error,
    }
    return render(request, "hooks/hooks.html", context, status=status)
