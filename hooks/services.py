"""Webhooks made, listed, revoked, deleted and resumed (sync ORM code: the doors call it through
``chat.db``/``reads``), and ``do_incoming_post``, the one path of a message that comes through an
incoming hook's URL. Who may: owners and moderators of the namespace (``require_moderator``),
after ``chat.access`` let the caller see it (hidden and missing are one answer)."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from bots import services as bots
from bots.models import Bot
from chat import access, actions, identity, namespaces, policy, protocol, services
from chat.access import Caller, NsAccess, RoomAccess
from chat.identity import Identity
from chat.models import AuditEntry, Room
from chat.protocol import ErrorCode, ProtocolError

from . import receivers
from .models import Delivery, HookCursor, HookLease, IncomingHook, OutgoingHook

KINDS = ("message", "edit", "delete", "reaction", "mention")
PREFIX = "/hooks/"
SECRET_CHARS = 43  # secrets.token_urlsafe(32)
DELIVERIES_SHOWN = 50


def hash_secret(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def _bad(detail: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID_FRAME, detail)


def _audit(caller: Caller, ns: NsAccess, action: str, target: str) -> None:
    namespaces.audit(ns.namespace, namespaces.actor_of(caller), action, target[:200])


def _retire(bot: Bot) -> None:
    """A hook's voice is retired with its hook: its user inactive (it speaks no more)."""
    get_user_model().objects.filter(pk=bot.user_id).update(is_active=False)


# --- Incoming ------------------------------------------------------------------------------------


def incoming_create(caller: Caller, room: RoomAccess, raw_name: object) -> tuple[IncomingHook, str]:
    """A secret URL that posts into ``room`` as a bot of its own named ``raw_name``. Returns the
    hook and the secret (shown once; only its hash is kept)."""
    room.ns.require_moderator()
    name = bots.check_name(raw_name)
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        voice = bots.account_create(caller, room.ns, name, Bot.Kind.HOOK)
        hook = IncomingHook.objects.create(
            namespace=room.ns.namespace,
            room=room.room,
            name=name,
            secret_hash=hash_secret(secret),
            bot=voice,
            created_by_id=caller.user_id,
        )
        _audit(caller, room.ns, AuditEntry.Action.HOOK_IN_CREATE, f"{name} ({room.room.name})")
    return hook, secret


def incoming_list(ns: NsAccess) -> list[IncomingHook]:
    ns.require_moderator()
    rows = IncomingHook.objects.filter(namespace=ns.namespace, revoked__isnull=True)
    return list(rows.select_related("room", "bot__user").order_by("-id"))


def incoming_out(hook: IncomingHook) -> dict[str, Any]:
    return {
        "id": hook.id,
        "name": hook.name,
        "room": hook.room.name,
        "username": hook.bot.user.get_username(),
        "created": protocol.format_ts(hook.created_at),
    }


def incoming_revoke(caller: Caller, ns: NsAccess, hook_id: int) -> None:
    """Revoke an incoming hook of ``ns``: its URL answers 404 from now on (not_found: no such hook
    of ``ns``, or revoked already)."""
    ns.require_moderator()
    with transaction.atomic():
        hook = IncomingHook.objects.filter(id=hook_id, namespace=ns.namespace, revoked__isnull=True).first()
        if hook is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no incoming hook {hook_id} here")
        IncomingHook.objects.filter(id=hook.id).update(revoked=timezone.now())
        _retire(hook.bot)
        _audit(caller, ns, AuditEntry.Action.HOOK_IN_REVOKE, hook.name)


def incoming_find(secret: str) -> tuple[IncomingHook, NsAccess] | None:
    """The hook (with its room, namespace and voice) whose secret this is, if it is in force."""
    if not secret or len(secret) > 2 * SECRET_CHARS:
        return None
    hook = (
        IncomingHook.objects.filter(secret_hash=hash_secret(secret), revoked__isnull=True)
        .select_related("room", "namespace", "bot__user")
        .first()
    )
    if hook is None or not hook.bot.user.is_active:
        return None
    ns = hook.namespace
    return hook, NsAccess(namespace=ns, policy=policy.resolve(ns), role=None)


async def do_incoming_post(hook: IncomingHook, ns: NsAccess, text: str) -> services.Outcome:
    """Post ``text`` into the hook's room as its voice (``"bot": true``), through the same action
    as every message (ids, fan-out, mentions). Raises ProtocolError (empty_message, too_large)."""
    text = protocol.check_message(text, ns.policy.limits())
    user = hook.bot.user
    who = Identity(name=user.get_username(), guest=False, user_id=user.pk, bot=True)
    return await actions.do_send_message(room=hook.room, who=who, text=text)


# --- Outgoing ------------------------------------------------------------------------------------


def check_events(value: object) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(k, str) for k in value):
        raise _bad(f"'events' must be a non-empty list of kinds: {', '.join(KINDS)}")
    unknown = [k for k in value if k not in KINDS]
    if unknown:
        raise _bad(f"unknown event kinds {unknown}: the kinds are {', '.join(KINDS)}")
    return list(dict.fromkeys(value))


def outgoing_create(
    caller: Caller, ns: NsAccess, url: object, events: object, room_name: str | None
) -> tuple[OutgoingHook, str]:
    """A receiver told of the events of ``ns`` (or of its room ``room_name``) from now on. The
    URL's host is checked by the caller first (``receivers.check_host``: it resolves names, which
    is async). Returns the hook and its secret (shown once)."""
    ns.require_moderator()
    try:
        url = receivers.check_url(url)
    except receivers.Refused as exc:
        raise _bad(str(exc)) from None
    kinds = check_events(events)
    room = access.access_room(caller, ns, room_name).room if room_name is not None else None
    secret = secrets.token_hex(32)
    host = urlsplit(url).hostname or "hook"
    with transaction.atomic():
        voice = bots.account_create(caller, ns, f"hook-{host}"[: identity.name_limits().max_name_chars], Bot.Kind.HOOK)
        hook = OutgoingHook.objects.create(
            namespace=ns.namespace,
            room=room,
            url=url,
            events=kinds,
            secret=secret,
            bot=voice,
            created_by_id=caller.user_id,
        )
        HookLease.objects.create(hook=hook)
        # From now on: every room there is starts at its last event (a room made later, at 0).
        rooms = _rooms(hook).values_list("id", "last_id")
        HookCursor.objects.bulk_create([HookCursor(hook=hook, room_id=r, last_id=last) for r, last in rooms])
        _audit(caller, ns, AuditEntry.Action.HOOK_OUT_CREATE, url)
    return hook, secret


def _rooms(hook: OutgoingHook) -> Any:
    if hook.room_id is not None:
        return Room.objects.filter(pk=hook.room_id)
    return Room.objects.filter(namespace_id=hook.namespace_id)


def outgoing_of(ns: NsAccess, hook_id: int) -> OutgoingHook:
    ns.require_moderator()
    hook = OutgoingHook.objects.filter(id=hook_id, namespace=ns.namespace).select_related("room").first()
    if hook is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no outgoing hook {hook_id} here")
    return hook


def outgoing_list(ns: NsAccess) -> list[OutgoingHook]:
    ns.require_moderator()
    return list(OutgoingHook.objects.filter(namespace=ns.namespace).select_related("room").order_by("-id"))


def outgoing_out(hook: OutgoingHook) -> dict[str, Any]:
    return {
        "id": hook.id,
        "url": hook.url,
        "events": list(hook.events),
        "room": hook.room.name if hook.room is not None else None,
        "state": hook.state,
        "failures": hook.failures,
        "reason": hook.reason,
        "created": protocol.format_ts(hook.created_at),
    }


def outgoing_delete(caller: Caller, ns: NsAccess, hook_id: int) -> None:
    hook = outgoing_of(ns, hook_id)
    with transaction.atomic():
        _retire(hook.bot)
        hook.delete()
        _audit(caller, ns, AuditEntry.Action.HOOK_OUT_DELETE, hook.url)


def outgoing_resume(caller: Caller, ns: NsAccess, hook_id: int) -> OutgoingHook:
    """Resume a paused hook from where it stopped (its cursors did not move); an active one
    stays as it is."""
    hook = outgoing_of(ns, hook_id)
    with transaction.atomic():
        OutgoingHook.objects.filter(pk=hook.pk).update(
            state=OutgoingHook.State.ACTIVE, failures=0, retry_at=None, reason=""
        )
        if hook.state == OutgoingHook.State.PAUSED:
            _audit(caller, ns, AuditEntry.Action.HOOK_OUT_RESUME, hook.url)
    hook.refresh_from_db()
    return hook


def deliveries(ns: NsAccess, hook_id: int) -> list[dict[str, Any]]:
    """The hook's last attempts, newest first."""
    hook = outgoing_of(ns, hook_id)
    rows = Delivery.objects.filter(hook=hook).select_related("room").order_by("-id")[:DELIVERIES_SHOWN]
    return [
        {
            "event_id": d.event_id,
            "room": d.room.name,
            "delivery": d.delivery,
            "status": d.status,
            "ok": d.status is not None and 200 <= d.status < 300,
            "time": protocol.format_ts(d.ts),
            "error": d.error,
        }
        for d in rows
    ]
