"""``/ns/<ns>/bots/``: the namespace's bots (owners and moderators): make one (its token shown once),
deactivate one. A member without the role gets a 403, anyone else a 404 (``require_moderator``)."""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from chat import moderation
from chat.protocol import ProtocolError
from chat.views.common import caller_of, ns_or_404, require_moderator
from chat.words import error as error_text

from . import services


@require_http_methods(["GET", "POST"])
def bots_page(request: HttpRequest, ns_name: str) -> HttpResponse:
    caller = caller_of(request)
    ns = ns_or_404(caller, ns_name)
    require_moderator(ns)
    error = ""
    status = 200
    made: dict[str, object] | None = None
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "create":
                bot, secret = services.bot_create(caller, ns, request.POST.get("name", ""))
                made = {**services.bot_out(bot), "token": secret}
                status = 201
            elif action == "deactivate":
                username = request.POST.get("username", "")
                moderation.from_sync(services.do_bot_deactivate, caller, ns, username)
                flash.success(request, _("Bot %(name)s was deactivated.") % {"name": username})
                return redirect("ns_bots", ns.namespace.name)
            else:
                return HttpResponse(status=400)
        except ProtocolError as exc:
            error = error_text(exc.code)
            status = 400 if exc.code != "not_found" else 404
    bots = [services.bot_out(b) for b in services.bots_of(ns)]
    context = {"ns": ns, "ns_name": ns.namespace.name, "bots": bots, "made": made, "error": error}
    return render(request, "bots/bots.html", context, status=200 if status == 201 else status)
