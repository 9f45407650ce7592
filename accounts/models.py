"""What accounts add to Django's users: the skeletons of their usernames, to find look-alikes fast."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .skeleton import skeletons


class UsernameSkeleton(models.Model):
    """One confusable skeleton of a user's username (``accounts.skeleton.skeletons``: one or two).

    Kept up to date by ``accounts.signals`` whenever a user is saved, so that "does a name look like
    a registered one" is one indexed query, not a scan of every user.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="username_skeletons")
    skeleton = models.TextField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "skeleton"], name="accounts_one_skeleton_per_user")]

    def __str__(self) -> str:
        return self.skeleton


def looks_registered(name: str) -> bool:
    """Whether ``name`` looks like a registered user's username: a skeleton in common (case, width,
    accents and look-alike letters ignored). One indexed query."""
    return UsernameSkeleton.objects.filter(skeleton__in=skeletons(name)).exists()


class ApiToken(models.Model):
    """A personal API token: a program speaks as ``user`` with ``Authorization: Bearer <secret>``.

    Only the SHA-256 of the secret is stored (``key_hash``): the secret is shown once, when the token
    is made (``accounts.tokens.token_create``), and a stolen database does not give working tokens.
    Revoking keeps the row (``revoked`` is when), so a revoked token is refused like an unknown one.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)  # unique: an index, one query per request
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField(null=True, blank=True)  # None: never
    last_used = models.DateTimeField(null=True, blank=True)  # kept to the minute (tokens.user_for_token)
    revoked = models.DateTimeField(null=True, blank=True)  # None: in force

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return self.name
