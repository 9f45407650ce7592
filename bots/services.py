"""Bots made, listed and deactivated (sync ORM code: the doors call it through ``chat.db``/``reads``),
and ``do_bot_deactivate``, which closes a deactivated bot's connections after the commit.

Who may: an owner or a moderator of the namespace (``NsAccess.require_moderator``); the caller has
already seen the namespace through ``chat.access`` (hidden and missing are one answer).
"""

from __future__ import annotations

import re
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import tokens
from accounts.models import ApiToken, looks_registered
from chat import db, identity, namespaces, protocol
from chat.access import Caller, NsAccess
from chat.fanout import busevents, events
from chat.models import AuditEntry, Membership, Role
from chat.protocol import ErrorCode, ProtocolError

from .models import Bot

# What Django's username validator lets through (letters and digits of any script, and @.+-_);
# anything else in a bot's name becomes "-".
_NOT_USERNAME = re.compile(r"[^\w.@+-]+")
SUFFIXES = 5  # for a name taken (or looking like a taken one): -2 to -5, then random ones
CLOSE_REASON = "deactivated"  # the 4410 close's reason when a bot is deactivated


def check_name(raw: object) -> str:
    """A bot's (or a hook's) name as asked for: a display name (invalid_name, 400)."""
    return protocol.check_display_name(raw, identity.name_limits())


def username_for(name: str) -> str:
    """A username made from ``name`` that no user has and that looks like no user's (confusable
    skeletons, ``accounts.skeleton``): the name itself, else the name with ``-2`` to ``-5``, else with
    a random suffix (``-3f1c``: no long search among many bots of one name). A bot
    never passes for a person, nor for another bot."""
    limit = identity.name_limits().max_name_chars - 4
    base = _NOT_USERNAME.sub("-", name).strip("-")[:limit].strip("-") or "bot"
    users = get_user_model().objects
    tries = [base, *(f"{base}-{n}" for n in range(2, SUFFIXES + 1))]
    tries += [f"{base}-{secrets.token_hex(2)}" for _ in range(10)]
    for candidate in tries:
        if not users.filter(username__iexact=candidate).exists() and not looks_registered(candidate):
            return candidate
    raise ProtocolError(ErrorCode.CONFLICT, f"too many names like {name!r}: choose another")


def account_create(caller: Caller, ns: NsAccess, name: str, kind: str) -> Bot:
    """Make the user of a bot (or of an incoming hook: ``kind``): an unusable password, a member of
    ``ns``. Two at once with the same name: the loser tries the next suffix."""
    for _ in range(3):
        username = username_for(name)
        try:
            with transaction.atomic():
                user = get_user_model().objects.create_user(username=username, password=None)
                Membership.objects.create(namespace=ns.namespace, user=user, role=Role.MEMBER)
                return Bot.objects.create(
                    user=user, namespace=ns.namespace, kind=kind, name=name, created_by_id=caller.user_id
                )
        except IntegrityError:
            continue
    raise ProtocolError(ErrorCode.CONFLICT, f"the name {name!r} was taken meanwhile: try again")


def bot_create(caller: Caller, ns: NsAccess, raw_name: object) -> tuple[Bot, str]:
    """Make a bot of ``ns`` named after ``raw_name`` and its first token. Returns the bot and the
    token's secret (shown once). Moderators and owners only (forbidden)."""
    ns.require_moderator()
    name = check_name(raw_name)
    with transaction.atomic():
        bot = account_create(caller, ns, name, Bot.Kind.BOT)
        _, secret = tokens.token_create(bot.user, f"bot {name}")
        namespaces.audit(
            ns.namespace, namespaces.actor_of(caller), AuditEntry.Action.BOT_CREATE, bot.user.get_username()
        )
    return bot, secret


def bots_of(ns: NsAccess) -> list[Bot]:
    """The bots of ``ns`` (active or not; not the incoming hooks' voices), newest first."""
    ns.require_moderator()
    rows = Bot.objects.filter(namespace=ns.namespace, kind=Bot.Kind.BOT).select_related("user")
    return list(rows.order_by("-created_at", "-id"))


def bot_out(bot: Bot) -> dict[str, object]:
    return {
        "username": bot.user.get_username(),
        "name": bot.name,
        "active": bot.user.is_active,
        "created": protocol.format_ts(bot.created_at),
    }


def bot_deactivate(caller: Caller, ns: NsAccess, username: str) -> list[busevents.ControlEvent]:
    """Deactivate the bot ``username`` of ``ns``: its user inactive (no token of it works: ``tokens.
    user_for_token``), its tokens revoked. Returns the control event that closes its connections
    (4410; ``do_bot_deactivate`` publishes it after the commit). not_found for a name that is no
    bot of ``ns``; deactivating twice is no error."""
    ns.require_moderator()
    bot = Bot.objects.filter(namespace=ns.namespace, kind=Bot.Kind.BOT, user__username=username).first()
    if bot is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no bot {username!r} in this namespace")
    user: AbstractBaseUser = bot.user
    with transaction.atomic():
        get_user_model().objects.filter(pk=user.pk).update(is_active=False)
        ApiToken.objects.filter(user_id=user.pk, revoked__isnull=True).update(revoked=timezone.now())
        namespaces.audit(ns.namespace, namespaces.actor_of(caller), AuditEntry.Action.BOT_DEACTIVATE, username)
    return [busevents.Removal(namespace=ns.namespace.name, reason=CLOSE_REASON, user_id=user.pk)]


async def do_bot_deactivate(caller: Caller, ns: NsAccess, username: str) -> None:
    """``bot_deactivate``, then its connections closed on every process (4410)."""
    await events.publish_control(await db.call(bot_deactivate, caller, ns, username))
