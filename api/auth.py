"""Who is calling: a personal token (``Authorization: Bearer``) or the browser's session.

A Bearer header wins over a cookie, and a bad one is refused even when a session would do. With
a session, a write (anything but GET, HEAD, OPTIONS) must carry the CSRF header (``X-CSRFToken``),
as Django's own forms do; tokens need none (a browser never sends one by itself). Guests (no
account) cannot use the API. ``password_login`` checks a username and password for
``POST /api/v1/tokens`` through Django's ``authenticate`` and so through django-axes: a failure
counts like a failed login (``PARLEY_LOGIN_FAILURES_PER_USERNAME`` / ``_PER_ADDRESS``).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest
from django.middleware.csrf import CsrfViewMiddleware
from ninja.security.base import AuthBase

from accounts.tokens import user_for_token
from chat import db, reads
from chat.identity import is_bot
from chat.protocol import ErrorCode, ProtocolError

from .errors import UNAUTHENTICATED, ApiError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _forbidden(request: HttpRequest) -> Any:
    return None


def csrf_ok(request: HttpRequest) -> bool:
    """Django's CSRF check of a request (the header or form token against the cookie; the Origin)."""
    middleware = CsrfViewMiddleware(_forbidden)
    request.csrf_processing_done = False  # type: ignore[attr-defined]
    middleware.process_request(request)
    return middleware.process_view(request, _forbidden, (), {}) is None


class Credentials(AuthBase):
    """django-ninja's auth callable for every route but the token request. Returns the user (ninja
    puts it in ``request.auth``) or raises ApiError / ProtocolError (its handlers answer)."""

    openapi_type = "http"
    openapi_scheme = "bearer"
    openapi_description = (
        "A personal API token (`Authorization: Bearer parley_...`). The browser's session cookie also works; "
        "writes with a session need the X-CSRFToken header."
    )

    async def __call__(self, request: HttpRequest) -> AbstractBaseUser:
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, raw = header.strip().partition(" ")
            if scheme.lower() != "bearer":
                raise ApiError(UNAUTHENTICATED, "the Authorization header must be 'Bearer <token>'")
            user = await db.call(user_for_token, raw.strip())
            if user is None:
                raise ApiError(UNAUTHENTICATED, "unknown, revoked or expired token")
            return user
        session_user = await request.auser()
        if not session_user.is_authenticated:
            raise ApiError(UNAUTHENTICATED, "credentials needed: Authorization: Bearer <token>, or a logged-in session")
        assert isinstance(session_user, AbstractBaseUser)
        # Whether it is a bot (``chat.identity.is_bot``), read here, once: the routes ask it from
        # async code, where the reverse relation must already be cached on the user.
        await reads.read(is_bot, session_user)
        if request.method not in SAFE_METHODS and not await sync_to_async(csrf_ok)(request):
            raise ProtocolError(ErrorCode.FORBIDDEN, "a write with a session needs the X-CSRFToken header")
        return session_user


def password_login(request: HttpRequest, username: str, password: str) -> AbstractBaseUser:
    """The active user with this username and password (sync: call it on a thread). Raises
    unauthenticated for wrong credentials and rate_limited when django-axes refuses this username
    or address (too many failures; the wrong credentials that reach the limit too). The lock-out
    flag axes leaves on the request is cleared, so that its middleware does not replace the JSON
    answer with the login page."""
    user = authenticate(request, username=username, password=password)
    locked = bool(getattr(request, "axes_locked_out", False))
    request.axes_locked_out = False  # type: ignore[attr-defined]
    if locked:
        raise ProtocolError(
            ErrorCode.RATE_LIMITED,
            "too many failed attempts for this name or from your address: try again later",
            retry_after=settings.PARLEY_LOGIN_COOLOFF,
        )
    if user is None or not user.is_active:
        raise ApiError(UNAUTHENTICATED, "wrong username or password")
    assert isinstance(user, AbstractBaseUser)
    return user
