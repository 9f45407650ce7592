"""The doors' way to change a namespace: each ``do_*`` makes the change (``namespaces``, on the
database thread, in one transaction with its audit entry), then, after the commit, sends what the
other processes must act on (``events.publish_control``: kicks, bans, removals, policy changes).
The API, the pages and the admin call these, so a kick is a kick whichever door it came through."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from asgiref.sync import SyncToAsync, async_to_sync

from . import db, namespaces
from .access import Caller, NsAccess, RoomAccess
from .fanout import broadcast, events
from .models import Sanction

T = TypeVar("T")


def from_sync(door: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Run an async door (``do_*`` here or in ``actions``) from sync code: a page, the admin.

    Under the ASGI server a sync view runs in a thread of the server's event loop, and the door
    runs on that loop, with its hub. Anywhere else (the test client, a management command) asgiref
    runs it on a loop of its own: the hub made for that loop is closed after it, Redis
    connections and all."""
    # asgiref's own test (AsyncToSync.__call__): the server's loop, running, in this process. A
    # loop it ran before in this thread may be left behind, closed: then it makes a new one.
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    served = (
        loop is not None
        and loop.is_running()
        and getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) == os.getpid()
    )

    async def run() -> T:
        try:
            return await door(*args, **kwargs)
        finally:
            if not served:
                await broadcast.close_hub()

    return async_to_sync(run)()


async def do_ns_update(caller: Caller, ns: NsAccess, fields: dict[str, Any]) -> NsAccess:
    updated, changes = await db.call(namespaces.ns_update, caller, ns, fields)
    await events.publish_control(changes)
    return updated


async def do_member_set(caller: Caller, ns: NsAccess, username: str, role: str) -> tuple[bool, str]:
    """Add a member or change a member's role (``namespaces.member_set``); a moderator or owner
    made a member is closed out of the private rooms they saw only as one."""
    added, role_now, changes = await db.call(namespaces.member_set, caller, ns, username, role)
    await events.publish_control(changes)
    return added, role_now


async def do_member_remove(caller: Caller, ns: NsAccess, username: str) -> None:
    await events.publish_control(await db.call(namespaces.member_remove, caller, ns, username))


async def do_room_member_remove(caller: Caller, room: RoomAccess, username: str) -> None:
    await events.publish_control(await db.call(namespaces.room_member_remove, caller, room, username))


async def do_kick(
    caller: Caller, room: RoomAccess, *, username: str | None = None, guest: str | None = None, reason: str = ""
) -> None:
    changes = await db.call(namespaces.kick, caller, room, username=username, guest=guest, reason=reason)
    await events.publish_control(changes)


async def do_mute(caller: Caller, ns: NsAccess, username: str, *, seconds: Any = None, reason: str = "") -> Sanction:
    row, _ = await db.call(
        namespaces.sanction, caller, ns, Sanction.Kind.MUTE, username, seconds=seconds, reason=reason
    )
    return row


async def do_ban(caller: Caller, ns: NsAccess, username: str, *, seconds: Any = None, reason: str = "") -> Sanction:
    row, changes = await db.call(
        namespaces.sanction, caller, ns, Sanction.Kind.BAN, username, seconds=seconds, reason=reason
    )
    await events.publish_control(changes)
    return row


async def do_lift(caller: Caller, ns: NsAccess, kind: str, username: str) -> None:
    await db.call(namespaces.lift, caller, ns, kind, username)
