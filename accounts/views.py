"""Sign up. Log in and log out are Django's own views (accounts/urls.py) with Parley's templates."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _


def signup(request: HttpRequest) -> HttpResponse:
    """Create an account (Django's password validators apply), log it in, go back where the visitor was."""
    next_url = safe_next(request)
    if request.user.is_authenticated:
        return redirect(next_url)
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Welcome to Parley, %(name)s.") % {"name": user.get_username()})
        return redirect(next_url)
    status = 400 if form.is_bound else 200
    return render(request, "accounts/signup.html", {"form": form, "next": next_url}, status=status)


def safe_next(request: HttpRequest) -> str:
    """The ``next`` parameter if it points into this site, else the login redirect (the room list)."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return candidate if allowed else resolve_url(settings.LOGIN_REDIRECT_URL)
