"""Parley's error pages: 400, 403 (a stale form's CSRF failure too), 404, 500, and 503 when a
backend is down. Each has the site's header and a way back, in the visitor's language, and says
nothing the visitor may not know: every 404 is the same page (a hidden namespace, room or invite
and a missing one look alike), and a 500 shows no exception.

``parley/urls.py`` points Django's ``handler400/403/404/500`` here, ``CSRF_FAILURE_VIEW`` is
``csrf_failure``, and ``parley.middleware`` answers refused input (``bad_input``) and a page whose
backend is down (``unavailable``). The API answers its own errors in JSON (``api.errors``).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from core import inputs

# Seconds a visitor is asked to wait when the database or Redis cannot be reached.
UNAVAILABLE_RETRY_AFTER = 10


def page(
    request: HttpRequest, status: int, title: str, message: str, *, detail: str = "", bare: bool = False
) -> HttpResponse:
    """An error page. ``bare``: without the account part of the header, which needs the session
    (and so the database) that a 500 or a 503 may be about."""
    # "here" is where the header's language menu and "Log in" come back to: the home page, not the
    # path asked for (an error page echoes nothing of the request).
    context = {"status": status, "title": title, "message": message, "detail": detail, "bare": bare, "here": "/"}
    return render(request, "errors/error.html", context, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return page(request, 400, _("Bad request"), _("Parley could not understand this request."))


def bad_input(request: HttpRequest, bad: inputs.BadInput) -> HttpResponse:
    """A request with a string Parley does not take (``core.inputs``): which field, and why."""
    code = f"U+{ord(bad.char):04X}"
    if bad.kind == "nul":
        char = _("a NUL character (%(code)s)") % {"code": code}
    elif bad.kind == "surrogate":
        char = _("half of a character (%(code)s)") % {"code": code}
    else:
        char = _("a control character (%(code)s)") % {"code": code}
    return page(
        request,
        400,
        _("Bad request"),
        _("Part of this request holds characters Parley does not accept (such as NUL or control characters)."),
        detail=_("The field “%(field)s” holds %(char)s.") % {"field": bad.field, "char": char},
    )


def too_large(request: HttpRequest) -> HttpResponse:
    return page(request, 413, _("Too large"), _("This request is larger than Parley accepts."))


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return page(request, 403, _("Not allowed"), _("You may not do this here."))


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Django's CSRF check refused a form (CSRF_FAILURE_VIEW): most often a page open for long."""
    return page(
        request,
        403,
        _("The form has expired"),
        _(
            "This form was sent from a page that is too old, or your browser refused Parley's cookie. "
            "Go back, reload the page and try again."
        ),
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Every 404: one page, whatever was not found (or hidden), never the exception's words."""
    return page(request, 404, _("Not found"), _("There is nothing here, or it is not yours to see."))


def server_error(request: HttpRequest) -> HttpResponse:
    return page(
        request,
        500,
        _("Something went wrong"),
        _("Parley failed to answer this request. It has been noted; try again in a moment."),
        bare=True,
    )


def unavailable(request: HttpRequest) -> HttpResponse:
    response = page(
        request,
        503,
        _("Parley is unavailable"),
        _("Parley cannot reach its database right now. Try again in a moment."),
        bare=True,
    )
    response["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
    return response
