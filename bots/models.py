"""Bot accounts: users that programs speak as (docs/webhooks.md, "Bots").

A bot is a Django user with an unusable password (it cannot log in with one), a member of one
namespace (``namespace``) and of no other: ``chat.access`` refuses it everywhere else (``Caller.bot``).
It speaks with API tokens (``accounts.tokens``) through the API and the WebSocket doors; its
messages carry ``"bot": true``. Deactivating one sets ``is_active`` off (every token stops working)
and closes its connections (4410). An incoming webhook posts as a bot of its own (kind ``hook``),
which is not listed among the namespace's bots.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from chat.models import Namespace


class Bot(models.Model):
    class Kind(models.TextChoices):
        BOT = "bot"  # made by POST /ns/<ns>/bots, speaks with its token
        HOOK = "hook"  # the voice of an incoming webhook (hooks.IncomingHook.bot)

    # related_name "bot": ``chat.identity.is_bot`` reads ``user.bot`` by this name.
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bot")
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=4, choices=Kind.choices, default=Kind.BOT)
    name = models.CharField(max_length=150)  # as asked for; the username is made from it
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"bot {self.user_id} of {self.namespace_id}"
