"""Incoming and outgoing webhooks (docs/webhooks.md).

- ``IncomingHook``: a secret URL (``/hooks/<secret>``) that posts into one room as the hook's own
  bot (``bots.Bot``, kind ``hook``). Only the secret's SHA-256 is stored: it is shown once.
- ``OutgoingHook``: a receiver URL told of a namespace's (or one room's) events. Its delivery is
  driven from the rooms' stored ``chat.Event`` rows: a ``HookCursor`` per (hook, room) holds the
  last event id the receiver acknowledged with a 2xx, and moves only then (in id order, at least
  once). ``HookLease`` lets one process at a time deliver a hook (``hooks.deliverer``);
  ``Delivery`` keeps the last attempts for the deliveries route and page.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from bots.models import Bot
from chat.models import Namespace, Room


class IncomingHook(models.Model):
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=150)
    secret_hash = models.CharField(max_length=64, unique=True)  # SHA-256 (hex) of the URL's secret
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="+")  # who its messages are from
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked = models.DateTimeField(null=True, blank=True)  # None: in force

    def __str__(self) -> str:
        return self.name


class OutgoingHook(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active"
        PAUSED = "paused"  # after PARLEY_WEBHOOK_PAUSE_AFTER failures in a row; resumed by hand

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.CASCADE, related_name="+")  # None: all
    url = models.CharField(max_length=2000)
    events = models.JSONField(default=list)  # kinds: message, edit, delete, reaction, mention
    secret = models.CharField(max_length=100)  # the HMAC key: kept, to sign every body
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="+")  # who its replies are from
    state = models.CharField(max_length=6, choices=State.choices, default=State.ACTIVE)
    failures = models.PositiveIntegerField(default=0)  # in a row, since the last 2xx
    retry_at = models.DateTimeField(null=True, blank=True)  # the next attempt after a failure
    reason = models.CharField(max_length=500, blank=True, default="")  # the last failure (why it paused)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.url


class HookCursor(models.Model):
    """Every event of ``room`` up to ``last_id`` was acknowledged by ``hook``'s receiver (or is of a
    kind the hook does not want)."""

    hook = models.ForeignKey(OutgoingHook, on_delete=models.CASCADE, related_name="cursors")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    last_id = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hook", "room"], name="hookcursor_hook_room_unique")]


class HookLease(models.Model):
    """Who delivers ``hook`` now: ``holder`` (a process's id) until ``expires``. Taken and renewed by
    one conditional UPDATE (free, expired, or already ours), which is atomic on SQLite and
    PostgreSQL alike; a process killed with -9 loses it when it expires."""

    hook = models.OneToOneField(OutgoingHook, on_delete=models.CASCADE, primary_key=True, related_name="lease")
    holder = models.CharField(max_length=64, blank=True, default="")
    expires = models.DateTimeField(null=True, blank=True)


class Delivery(models.Model):
    """One attempt to deliver an event (the last ``deliverer.KEEP_DELIVERIES`` per hook are kept)."""

    hook = models.ForeignKey(OutgoingHook, on_delete=models.CASCADE, related_name="deliveries")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    event_id = models.BigIntegerField()
    delivery = models.CharField(max_length=36)  # X-Parley-Delivery
    status = models.PositiveIntegerField(null=True, blank=True)  # the receiver's; None: no answer
    error = models.CharField(max_length=500, blank=True, default="")
    ts = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["hook", "-id"], name="delivery_hook_recent")]
