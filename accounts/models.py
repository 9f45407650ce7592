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
