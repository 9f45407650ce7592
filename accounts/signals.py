"""Keeps ``UsernameSkeleton`` in step with the user table."""

from __future__ import annotations

from typing import Any

from .models import UsernameSkeleton
from .skeleton import skeletons


def sync_skeletons(user: Any, *, created: bool = False) -> None:
    """Store the skeletons of ``user``'s username, replacing any of a former username."""
    wanted = skeletons(user.get_username())
    stored = set() if created else set(UsernameSkeleton.objects.filter(user=user).values_list("skeleton", flat=True))
    if stored == wanted:
        return
    UsernameSkeleton.objects.filter(user=user).exclude(skeleton__in=wanted).delete()
    UsernameSkeleton.objects.bulk_create([UsernameSkeleton(user=user, skeleton=s) for s in wanted - stored])


def user_saved(sender: Any, instance: Any, created: bool, update_fields: Any = None, **kwargs: Any) -> None:
    """Called after a user is saved: a new user, or a save that may have changed the username.
    A save of other fields only (``last_login`` on every login) costs nothing."""
    if update_fields is not None and instance.USERNAME_FIELD not in update_fields:
        return
    if kwargs.get("raw"):  # loaddata: the fixture brings its own rows
        return
    sync_skeletons(instance, created=created)
