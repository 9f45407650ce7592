"""Outgoing webhooks' delivery: one asyncio task per server process (``ensure_started``, called by
the ASGI app on its first request or connection), and a task per hook it delivers.

Driven from the store, not from the bus: each hook has a cursor per room (``HookCursor``), the last
event id its receiver acknowledged with a 2xx. The deliverer reads the events after it from the
room's ``Event`` rows (each event's frame as it went out live), POSTs them one at a time in id
order, and moves the cursor only after a 2xx. So a receiver outage, a restart, a process killed
with -9 or a Redis outage loses nothing: the next attempt starts from the cursor (at least once; a
repeat only where a 2xx was not recorded).

One process at a time delivers a hook: the one holding its ``HookLease`` (taken and renewed, before
every attempt, by one conditional UPDATE, on SQLite and PostgreSQL alike). An attempt is bounded by
``PARLEY_WEBHOOK_TIMEOUT``, well under ``PARLEY_WEBHOOK_LEASE``, so a deliverer that lost its lease
(it stalled, or was killed) has finished its last POST before another takes over.

A failure (no answer, a non-2xx, a refused address) sets the hook's ``retry_at`` (exponential
backoff from ``PARLEY_WEBHOOK_RETRY_BASE`` to ``PARLEY_WEBHOOK_RETRY_MAX``) and, after
``PARLEY_WEBHOOK_PAUSE_AFTER`` in a row, pauses it (``state`` paused, ``reason`` why) until resumed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import hashlib
import hmac
import logging
import os
import socket
import uuid
from typing import Any

import httpx
import orjson
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from bots.models import Bot
from chat import actions, db, reads
from chat.identity import Identity
from chat.models import Event, Room
from chat.protocol import ProtocolError
from core import logs

from . import receivers
from .models import Delivery, HookCursor, HookLease, OutgoingHook

log = logging.getLogger("parley.hooks")

# This process, as a lease's holder (unique across hosts and restarts).
HOLDER = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
BATCH = 100  # events read per trip to the store
KEEP_DELIVERIES = 100  # attempts kept per hook (the deliveries route shows the newest)
MAX_REPLY_BYTES = 64 * 1024  # a receiver's answer read at most (a reply's message is in it)
USER_AGENT = "Parley-Webhook/1"


@dataclasses.dataclass(frozen=True, slots=True)
class Item:
    """One event to deliver."""

    room: Room
    namespace: str
    seq: int
    kind: str
    frame: dict[str, Any]


def body_of(item: Item) -> bytes:
    """What is POSTed: the event's live frame plus ``namespace`` and ``room`` (the room's name)."""
    return orjson.dumps({**item.frame, "namespace": item.namespace, "room": item.room.name})


def signature(secret: str, body: bytes) -> str:
    """``X-Parley-Signature``: ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff(failures: int) -> float:
    """Seconds before the next attempt after ``failures`` failures in a row (1, 2, 4, ... capped)."""
    base, cap = settings.PARLEY_WEBHOOK_RETRY_BASE, settings.PARLEY_WEBHOOK_RETRY_MAX
    return float(min(cap, base * 2 ** min(failures - 1, 60)))


# --- The store (sync: on the database thread) ----------------------------------------------------


def due_hooks() -> list[int]:
    """Active hooks not waiting for a retry, whose lease is free or ours, with events to deliver."""
    now = timezone.now()
    hooks = (
        OutgoingHook.objects.filter(state=OutgoingHook.State.ACTIVE)
        .filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))
        .filter(Q(lease__expires__isnull=True) | Q(lease__expires__lt=now) | Q(lease__holder=HOLDER))
    )
    return [h.pk for h in hooks.only("id", "namespace_id", "room_id") if _due_rooms(h)]


def _due_rooms(hook: OutgoingHook) -> list[tuple[int, int]]:
    """(room id, cursor) of the hook's rooms with events after their cursor (none yet: 0)."""
    rooms = (
        Room.objects.filter(pk=hook.room_id) if hook.room_id else Room.objects.filter(namespace_id=hook.namespace_id)
    )
    cursor = HookCursor.objects.filter(hook_id=hook.pk, room_id=OuterRef("pk")).values("last_id")[:1]
    rows = rooms.annotate(cursor=Coalesce(Subquery(cursor), 0)).filter(last_id__gt=F("cursor"))
    return list(rows.order_by("id").values_list("id", "cursor"))


def lease_seconds() -> float:
    """How long a lease lasts: PARLEY_WEBHOOK_LEASE, and at least twice PARLEY_WEBHOOK_TIMEOUT (an
    attempt must end well before its lease does)."""
    return max(settings.PARLEY_WEBHOOK_LEASE, 2 * settings.PARLEY_WEBHOOK_TIMEOUT)


def lease_take(hook_id: int) -> OutgoingHook | None:
    """Take or renew the hook's lease for PARLEY_WEBHOOK_LEASE seconds: the hook, or None when
    another process holds it (or the hook is gone)."""
    now = timezone.now()
    taken = (
        HookLease.objects.filter(hook_id=hook_id)
        .filter(Q(holder=HOLDER) | Q(expires__isnull=True) | Q(expires__lt=now))
        .update(holder=HOLDER, expires=now + datetime.timedelta(seconds=lease_seconds()))
    )
    if not taken:
        return None
    return OutgoingHook.objects.select_related("namespace", "bot__user").filter(pk=hook_id).first()


def lease_release(hook_id: int) -> None:
    HookLease.objects.filter(hook_id=hook_id, holder=HOLDER).update(holder="", expires=None)


def pending(hook: OutgoingHook) -> list[Item]:
    """The next events to deliver: those after the cursor of the first room with any, in id order."""
    for room_id, cursor in _due_rooms(hook):
        room = Room.objects.filter(pk=room_id).first()
        if room is None:
            continue
        rows = Event.objects.filter(room_id=room_id, seq__gt=cursor).order_by("seq")[:BATCH]
        items = [
            Item(room=room, namespace=hook.namespace.name, seq=seq, kind=kind, frame=orjson.loads(frame))
            for seq, kind, frame in rows.values_list("seq", "kind", "frame")
        ]
        if items:
            return items
        # Nothing stored after the cursor though last_id is ahead: pruned. Skip to last_id.
        advance(hook.pk, room_id, room.last_id)
    return []


def bot_names(hook: OutgoingHook) -> set[str]:
    """The namespace's active bots' usernames, case-folded (a message mentioning one is a ``mention``)."""
    names = Bot.objects.filter(namespace_id=hook.namespace_id, kind=Bot.Kind.BOT, user__is_active=True)
    return {n.casefold() for n in names.values_list("user__username", flat=True)}


def advance(hook_id: int, room_id: int, seq: int) -> None:
    """Move the hook's cursor in ``room_id`` forward to ``seq`` (never back)."""
    if HookCursor.objects.filter(hook_id=hook_id, room_id=room_id, last_id__lt=seq).update(last_id=seq):
        return
    if not HookCursor.objects.filter(hook_id=hook_id, room_id=room_id).exists():
        try:
            with transaction.atomic():
                HookCursor.objects.create(hook_id=hook_id, room_id=room_id, last_id=seq)
        except IntegrityError:
            HookCursor.objects.filter(hook_id=hook_id, room_id=room_id, last_id__lt=seq).update(last_id=seq)


def record(hook: OutgoingHook, item: Item, delivery: str, status: int | None, error: str) -> OutgoingHook.State:
    """Store an attempt: a 2xx moves the cursor and clears the failures; anything else counts a
    failure, sets when to retry and pauses the hook after PARLEY_WEBHOOK_PAUSE_AFTER in a row.
    Returns the hook's state after it."""
    ok = status is not None and 200 <= status < 300
    with transaction.atomic():
        Delivery.objects.create(
            hook_id=hook.pk,
            room_id=item.room.pk,
            event_id=item.seq,
            delivery=delivery,
            status=status,
            error=error[:500],
        )
        if ok:
            advance(hook.pk, item.room.pk, item.seq)
            if hook.failures or hook.retry_at is not None or hook.reason:
                OutgoingHook.objects.filter(pk=hook.pk).update(failures=0, retry_at=None, reason="")
            state = OutgoingHook.State(hook.state)
        else:
            failures = (OutgoingHook.objects.filter(pk=hook.pk).values_list("failures", flat=True).first() or 0) + 1
            if failures >= settings.PARLEY_WEBHOOK_PAUSE_AFTER:
                state = OutgoingHook.State.PAUSED
                reason = f"paused after {failures} failed attempts in a row; the last: {error}"
                OutgoingHook.objects.filter(pk=hook.pk).update(
                    failures=failures, state=state, retry_at=None, reason=reason[:500]
                )
            else:
                state = OutgoingHook.State.ACTIVE
                retry_at = timezone.now() + datetime.timedelta(seconds=backoff(failures))
                OutgoingHook.objects.filter(pk=hook.pk).update(failures=failures, retry_at=retry_at, reason=error[:500])
        old = Delivery.objects.filter(hook_id=hook.pk).order_by("-id").values_list("id", flat=True)[KEEP_DELIVERIES:]
        cut = next(iter(old[:1]), None)
        if cut is not None:
            Delivery.objects.filter(hook_id=hook.pk, id__lte=cut).delete()
    return state


# --- Delivering (async: on the server's loop) -----------------------------------------------------


def wanted(hook: OutgoingHook, item: Item, bots: set[str]) -> bool:
    """Whether the hook's receiver wants this event: of a kind it asked for (a ``mention``: a
    message naming a bot of the namespace), and not made by the hook itself (its replies would
    come back to it forever)."""
    voice = hook.bot.user.get_username()
    if item.frame.get("sender", item.frame.get("by")) == voice:
        return False
    if item.kind in hook.events:
        return True
    if "mention" in hook.events and item.kind == Event.Kind.MESSAGE:
        return any(str(n).casefold() in bots for n in item.frame.get("mentions") or [])
    return False


class Deliverer:
    """The process's deliverer: looks for due hooks every PARLEY_WEBHOOK_POLL seconds and runs one
    task per hook whose lease it holds."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.running: dict[int, asyncio.Task[None]] = {}
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.PARLEY_WEBHOOK_TIMEOUT), follow_redirects=False, trust_env=False
        )
        self.task = self.loop.create_task(self.run(), context=logs.detached())

    async def run(self) -> None:
        failing = False  # warned once while the store cannot be read, not at every poll
        while True:
            try:
                for hook_id in await reads.read(due_hooks):  # a read: on the read threads, not the writes'
                    if hook_id not in self.running:
                        self.running[hook_id] = self.loop.create_task(self.deliver(hook_id), context=logs.detached())
                failing = False
            except Exception:
                if not failing:
                    log.exception("webhooks: looking for due hooks failed (retried every poll)")
                failing = True
            await asyncio.sleep(settings.PARLEY_WEBHOOK_POLL)

    async def deliver(self, hook_id: int) -> None:
        """Deliver the hook's events while it has some, it is not failing, and the lease is ours."""
        try:
            while True:
                hook = await db.call(lease_take, hook_id)
                if hook is None:
                    return
                if hook.state != OutgoingHook.State.ACTIVE or (hook.retry_at and hook.retry_at > timezone.now()):
                    break
                items = await db.call(pending, hook)  # on the writes' thread: it may move a cursor past pruned events
                if not items:
                    break
                bots = await reads.read(bot_names, hook)
                skipped: Item | None = None
                for item in items:
                    if not wanted(hook, item, bots):
                        skipped = item
                        continue
                    if skipped is not None:
                        await db.call(advance, hook.pk, skipped.room.pk, skipped.seq)
                        skipped = None
                    if await db.call(lease_take, hook_id) is None:
                        return
                    if not await self.attempt(hook, item):
                        await db.call(lease_release, hook_id)
                        return
                if skipped is not None:
                    await db.call(advance, hook.pk, skipped.room.pk, skipped.seq)
            await db.call(lease_release, hook_id)
        except Exception:
            log.exception("webhooks: delivering hook %s failed", hook_id)
        finally:
            self.running.pop(hook_id, None)

    async def attempt(self, hook: OutgoingHook, item: Item) -> bool:
        """POST one event; record it. True on a 2xx (after posting the receiver's reply, if any)."""
        body = body_of(item)
        delivery = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Parley-Event-Id": str(item.seq),
            "X-Parley-Delivery": delivery,
            "X-Parley-Signature": signature(hook.secret, body),
        }
        status: int | None = None
        error = ""
        answer = b""
        try:
            await receivers.check_host(hook.url)
            async with self.client.stream("POST", hook.url, content=body, headers=headers) as response:
                status = response.status_code
                async for chunk in response.aiter_bytes():
                    answer += chunk
                    if len(answer) > MAX_REPLY_BYTES:
                        break
            if not 200 <= status < 300:
                error = f"the receiver answered {status}"
        except receivers.Refused as exc:
            error = str(exc)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        ok = status is not None and 200 <= status < 300
        if ok:
            await self.reply(hook, item, answer)
        state = await db.call(record, hook, item, delivery, status, error)
        if not ok:
            log.info("webhooks: hook %s, event %s of %s: %s (%s)", hook.pk, item.seq, item.room, error, state)
        return ok

    async def reply(self, hook: OutgoingHook, item: Item, answer: bytes) -> None:
        """A 2xx answer ``{"message": ...}`` is posted into the event's room by the hook's voice;
        its client_id names the event, so a repeated delivery does not post it twice."""
        if not answer.strip() or len(answer) > MAX_REPLY_BYTES:
            return
        try:
            data = orjson.loads(answer)
        except orjson.JSONDecodeError:
            return
        if not isinstance(data, dict) or not isinstance(data.get("message"), str) or not data["message"].strip():
            return
        user = hook.bot.user
        who = Identity(name=user.get_username(), guest=False, user_id=user.pk, bot=True)
        try:
            await actions.do_send_message(
                room=item.room, who=who, text=data["message"], client_id=f"hook-{hook.pk}-{item.seq}"
            )
        except ProtocolError as exc:
            log.info("webhooks: hook %s's reply to event %s refused: %s", hook.pk, item.seq, exc)

    async def close(self) -> None:
        self.task.cancel()
        for task in list(self.running.values()):
            task.cancel()
        await self.client.aclose()


_deliverer: Deliverer | None = None


def ensure_started() -> None:
    """Start this process's deliverer on the running loop, once (a new loop gets a new one)."""
    global _deliverer
    if _deliverer is not None and _deliverer.loop is asyncio.get_running_loop():
        return
    _deliverer = Deliverer()


async def stop() -> None:
    """Stop this process's deliverer (the server shuts down): a POST under way is abandoned and
    delivered again later (its cursor did not move)."""
    global _deliverer
    if _deliverer is not None:
        await _deliverer.close()
        _deliverer = None
