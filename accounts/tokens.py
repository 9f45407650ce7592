"""Personal API tokens: made, revoked, and turned back into their user.

A secret is ``parley_`` followed by 32 random bytes in URL-safe base64; only its SHA-256 (hex) is
stored, so the lookup is one indexed query and the secret is shown once, when it is made. Used by
the REST API (``api.auth``) and by the WebSocket handshake (``Authorization: Bearer``).
"""

from __future__ import annotations

import datetime
import hashlib
import secrets

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from .models import ApiToken

PREFIX = "parley_"
LAST_USED_EVERY = datetime.timedelta(minutes=1)  # last_used is written at most this often per token
MAX_SECRET_CHARS = 200  # anything longer is not a token of ours: refused before hashing


def hash_secret(raw: str) -> str:
    """The stored form of a secret: SHA-256, hex (a secret has 256 random bits: no salt needed)."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def token_create(user: AbstractBaseUser, name: str, expires_in: int | None = None) -> tuple[ApiToken, str]:
    """Make a token for ``user`` named ``name``, expiring ``expires_in`` seconds from now (None:
    never). Returns the row and the secret, which is not stored and cannot be recovered."""
    secret = PREFIX + secrets.token_urlsafe(32)
    expires = timezone.now() + datetime.timedelta(seconds=expires_in) if expires_in is not None else None
    token = ApiToken.objects.create(user_id=user.pk, name=name, key_hash=hash_secret(secret), expires=expires)
    return token, secret


def token_revoke(user: AbstractBaseUser, token_id: int) -> bool:
    """Revoke ``user``'s token ``token_id``. False when there is no such token of theirs (another
    user's id is the same as a missing one) or it was already revoked."""
    changed = ApiToken.objects.filter(id=token_id, user_id=user.pk, revoked__isnull=True).update(revoked=timezone.now())
    return changed > 0


def user_tokens(user: AbstractBaseUser) -> list[ApiToken]:
    """``user``'s tokens not revoked (expired ones included, so they can be seen and revoked), newest first."""
    return list(ApiToken.objects.filter(user_id=user.pk, revoked__isnull=True).order_by("-created", "-id"))


def user_for_token(raw: str) -> AbstractBaseUser | None:
    """The active user a secret belongs to; None for an unknown, revoked or expired token, or an
    inactive user. Synchronous (call it through ``sync_to_async`` from async code). Notes the use in
    ``last_used`` at most once a minute, so a busy program does not write on every request."""
    if not raw or not raw.startswith(PREFIX) or len(raw) > MAX_SECRET_CHARS:
        return None
    token = (
        ApiToken.objects.select_related("user", "user__bot")
        .filter(key_hash=hash_secret(raw), revoked__isnull=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.expires is not None and token.expires <= now:
        return None
    user = token.user
    if not user.is_active:
        return None
    if token.last_used is None or now - token.last_used >= LAST_USED_EVERY:
        ApiToken.objects.filter(id=token.id).update(last_used=now)
        token.last_used = now
    return user
