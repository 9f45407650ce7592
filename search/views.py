"""``/search/``: the search page (logged-in users). The results come from ``GET /api/v1/search``
(``search/static/search/search.js`` draws them as text, matches in ``<mark>``)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from . import query, selectors


@login_required
def search_page(request: HttpRequest) -> HttpResponse:
    """The page with the query of ``?q=`` (run by its script), and what the script needs to link a
    result: the other party of each of the user's direct messages (a DM's page is named by them)."""
    assert request.user.is_authenticated
    config = {
        "dms": selectors.dm_partners(user_id=request.user.pk),
        "strings": {
            "invalid": _("Type a word or a phrase to look for (at most %(n)s characters).") % {"n": query.MAX_CHARS},
            "limited": _("Too many searches: wait a moment and try again."),
            "failed": _("The search failed. Try again in a moment."),
            "none": _("Nothing found."),
            "more": _("More results"),
            "dm": _("@%(name)s (direct message)"),
            "edited": _("(edited)"),
        },
    }
    return render(request, "search/search.html", {"q": request.GET.get("q", ""), "config": config})
