"""Sign up, the page of a throttled login, and the personal API tokens page. Log in and log out are Django's own views
(accounts/urls.py) with Parley's templates."""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .models import looks_registered
from .tokens import token_create, token_revoke, user_tokens


class SignupForm(UserCreationForm):
    """Django's sign-up form, refusing a username that looks like an existing one (``rtowner`` with
    a Cyrillic U+043E for the ``o`` when ``rtowner`` exists), not only one equal in another case."""

    def clean_username(self) -> str:
        username = super().clean_username()
        if username and looks_registered(username):
            raise forms.ValidationError(
                _("“%(name)s” looks too much like the name of an existing account. Choose another name."),
                code="look_alike",
                params={"name": username},
            )
        return username


def signup(request: HttpRequest) -> HttpResponse:
    """Create an account (Django's password validators apply), log it in, go back where the visitor was."""
    next_url = safe_next(request)
    if request.user.is_authenticated:
        return redirect(next_url)
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Welcome to Parley, %(name)s.") % {"name": user.get_username()})
        return redirect(next_url)
    status = 400 if form.is_bound else 200
    return render(request, "accounts/signup.html", {"form": form, "next": next_url}, status=status)


def login_throttled(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """Called by django-axes (``AXES_LOCKOUT_CALLABLE``) for a login refused after too many
    failures: the login page again, saying why and for how long, with HTTP 429."""
    minutes = math.ceil(settings.PARLEY_LOGIN_COOLOFF / 60)
    throttled = _("Too many failed logins for this name or from your address. Try again in %(minutes)s minutes.") % {
        "minutes": minutes
    }
    form = AuthenticationForm(request, initial={"username": request.POST.get("username", "")})
    context = {"form": form, "next": safe_next(request), "throttled": throttled}
    return render(request, "registration/login.html", context, status=429)


def safe_next(request: HttpRequest) -> str:
    """The ``next`` parameter if it points into this site, else the login redirect (the room list)."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return candidate if allowed else resolve_url(settings.LOGIN_REDIRECT_URL)


# --- Personal API tokens ---------------------------------------------------------------------------

# The expiry choices of the tokens page, in days (0: never).
TOKEN_EXPIRY_DAYS = (0, 7, 30, 90, 365)


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)
    expires_days = forms.TypedChoiceField(coerce=int, choices=[(d, str(d)) for d in TOKEN_EXPIRY_DAYS], initial=0)


@login_required
def tokens_page(request: HttpRequest) -> HttpResponse:
    """``/accounts/tokens/``: the user's personal API tokens (for ``Authorization: Bearer``); make
    one (its secret is shown on the answer page, once) or revoke one."""
    assert request.user.is_authenticated  # login_required
    form = TokenForm(request.POST or None)
    secret = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            days = form.cleaned_data["expires_days"]
            _token, secret = token_create(request.user, form.cleaned_data["name"], days * 86400 if days else None)
            form = TokenForm()
        else:
            status = 400
    context = {"form": form, "tokens": user_tokens(request.user), "secret": secret, "expiry_days": TOKEN_EXPIRY_DAYS}
    return render(request, "accounts/tokens.html", context, status=status)


@require_POST
@login_required
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one of the user's tokens (the form on the tokens page), then back to the page."""
    assert request.user.is_authenticated
    if token_revoke(request.user, token_id):
        messages.success(request, _("The token was revoked."))
    return redirect("tokens")
