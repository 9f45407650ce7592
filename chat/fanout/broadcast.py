"""Fan-out: every message of a room reaches every local member once, in id order.

One ``Hub`` per process (per event loop). For each room with members here it keeps the members,
the id of the last message delivered, and the presence list. Events come from the bus
(``pubsub``): for a message, the hub checks its id against the room's last one and

- drops it if already delivered (id <= last),
- writes the already-encoded frame to every member if it is the next one (id == last + 1),
- otherwise holds it and fills the gap from the store first (``_fill``): ids are assigned under the
  room's row lock, so when N is committed every id below it is too, and a gap is never skipped.

Members are ``outbox.Outbox`` objects: ``push`` never blocks, so one slow client cannot slow its
room. The join protocol that makes subscribing race-free is in ``join``'s docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection
from typing import Protocol

from django.conf import settings

from core import backends, logs, metrics

from .. import access, db, protocol, selectors, services
from ..models import Room
from ..protocol import ErrorCode, ProtocolError
from . import busevents, clusterbus, pubsub, redisconn

log = logging.getLogger("parley.broadcast")

# How often a room's presence list is sent at most: joins and leaves in between are coalesced, so
# a class of 300 arriving at once costs a few frames per member, not 300.
PRESENCE_INTERVAL = 0.5
# A gap that the store cannot fill (it should never happen: see module docstring) is retried this
# many times, then skipped with an error in the log rather than stalling the room for good.
FILL_ATTEMPTS = 5


_out_messages = metrics.outbound["message"].inc

# The fields of the Room a join returns (the rest are deferred: nothing after a join reads them).
_ROOM_FIELDS = ["id", "namespace_id", "name", "address", "private", "last_id"]


class Member(Protocol):
    name: str
    origin: str  # unique across processes; typing is not echoed to its origin
    ephemeral: bool  # wants presence and typing frames (the native door)
    user_id: int | None  # the account (None: a guest), for kicks and bans
    guest: bool
    bot: bool  # a bot account (bots/): marked in presence lists

    def push(self, text: str, seq: int = 0) -> None: ...

    def remove(self, code: int, reason: str, *, note: str = "", until: str | None = None) -> None:
        """Called when the member is kicked, banned or no longer a member: close the connection
        (``note``: the moderator's reason; ``until``: a timed ban's end)."""


def _entry(member: Member) -> str:
    """The member's entry in its room's presence list: its name, marked for a bot. (``getattr``: a
    door's member written before bots existed counts as a person.)"""
    return protocol.presence_entry(member.name, bot=getattr(member, "bot", False))


class _Room:
    __slots__ = (
        "display",
        "filling",
        "greeted",
        "key",
        "last",
        "members",
        "name",
        "namespace",
        "namespace_id",
        "pending",
        "presence",
        "presence_dirty",
        "presence_task",
        "private",
        "ready",
        "resync",
        "room_id",
    )

    def __init__(self, key: str, name: str) -> None:
        self.key = key
        self.name = name  # its address (protocol.room_address)
        self.namespace, _, _ = name.rpartition("/")
        self.namespace = self.namespace or protocol.PUBLIC
        self.private = False  # with room_id, once read from the store
        self.display = name  # its name (in its namespace)
        self.namespace_id = 0
        self.room_id: int | None = None  # with ``last``, once read from the store
        self.members: dict[Member, None] = {}  # insertion-ordered set
        self.last: int | None = None  # None until subscribed and read from the store
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending: dict[int, busevents.RoomEvent] = {}  # held while a gap is filled
        self.filling = False
        self.resync = False
        self.presence: list[str] = []
        # The presence list each member of the native door was last sent; only greeted members get
        # updates, so a joiner's first presence frame comes after its history and is never repeated.
        self.greeted: dict[Member, list[str]] = {}
        self.presence_dirty = False
        self.presence_task: asyncio.Task[None] | None = None


class Hub:
    def __init__(self, make_bus: pubsub.BusFactory) -> None:
        self.loop = asyncio.get_running_loop()
        self.rooms: dict[str, _Room] = {}
        # A logged-in user's connections here, on their user channel (busevents.user_key): each
        # member with the key of the room it is in (mentions go to all, read cursors to one room's).
        self.users: dict[str, dict[Member, str]] = {}
        self.user_of: dict[Member, str] = {}
        self.bus = make_bus(self)
        self.bus_failing = False  # the last publish failed: warned once, until one succeeds
        # Per room key, the newest message event the bus failed to publish (publish_events).
        self.unpublished: dict[str, bytes] = {}
        self.control: asyncio.Task[None] | None = None  # subscribing to busevents.CONTROL, once

    # --- Members --------------------------------------------------------------------------------

    async def join(self, *, room: str, member: Member, user_id: int | None = None, public_only: bool = False) -> Room:
        """Add ``member`` to the room at address ``room`` (``protocol.room_address``; a room of
        ``public`` is created on first join, one of another namespace must exist: ``access``
        creates it) and return the room, its ``last_id`` the id of the last message delivered
        here when the member joined. ``public_only``: a private room is refused (not_found)
        before the member is added (an anonymous guest's join, which ``access`` has not checked).

        Called when a connection joins, before it reads its history. For a room new to this
        process, the room is subscribed (and Redis has confirmed it) before the room is read from
        the store, in one trip that also creates it, so every message after ``last_id`` reaches the
        member through the hub, and every one up to it is in the store. A join into a room that
        has members here needs no store at all. The caller reads history after this returns and
        tells its outbox to drop ids it already sent.
        """
        control = self.control
        if control is None or (control.done() and (control.cancelled() or control.exception() is not None)):
            # Kicks, bans and policy changes from every process: subscribed with the first join.
            control = self.control = self.loop.create_task(
                self.bus.subscribe(busevents.CONTROL), context=logs.detached()
            )
        if not control.done():
            await asyncio.shield(control)
        key = protocol.room_key(room)
        state = self.rooms.get(key)
        if state is None:
            state = self.rooms[key] = _Room(key, room)
            try:
                await self.bus.subscribe(key)
                stored, state.presence = await asyncio.gather(
                    db.call(services.room_get_or_create, address=room),
                    self.bus.presence_names(key),
                )
                state.room_id, state.last, state.private = stored.pk, stored.last_id, stored.private
                state.display, state.namespace_id = stored.name, stored.namespace_id
            except BaseException as exc:
                if self.rooms.get(key) is state:
                    del self.rooms[key]
                    self.bus.unsubscribe(key)
                state.ready.set_exception(exc)
                state.ready.exception()  # mark retrieved: the joiners below re-raise it
                raise
            state.ready.set_result(None)
        elif state.ready.done():
            state.ready.result()  # the room's first join failed: so does this one
        else:
            await asyncio.shield(state.ready)
        if public_only and state.private:
            self._drop_if_empty(state)
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no room {room!r}")
        state.members[member] = None
        if user_id is not None:
            await self._join_user(busevents.user_key(user_id), member, key)
        try:
            await self.bus.presence_set(key, _entry(member), True)
        except BaseException:
            # A failed join is no join (the consumer never starts): leave no member behind to be
            # sent frames, and no presence entry that the bus would keep republishing.
            with contextlib.suppress(Exception):
                await self.leave(room=room, member=member)
            raise
        assert state.last is not None and state.room_id is not None
        # Model.__init__ with keywords costs a loop over every field; from_db takes values in order.
        values = (state.room_id, state.namespace_id, state.display, room, state.private, state.last)
        return Room.from_db(None, _ROOM_FIELDS, values)

    def _drop_if_empty(self, state: _Room) -> None:
        """Forget a room no member joined (and stop listening to it)."""
        if not state.members and self.rooms.get(state.key) is state:
            del self.rooms[state.key]
            self.bus.unsubscribe(state.key)

    async def _join_user(self, key: str, member: Member, room_key: str) -> None:
        """Put ``member`` on its user's channel (subscribed with the user's first connection here)."""
        self.user_of[member] = key
        members = self.users.get(key)
        if members is None:
            members = self.users[key] = {}
            members[member] = room_key
            await self.bus.subscribe(key)
        else:
            members[member] = room_key

    def _leave_user(self, member: Member) -> None:
        key = self.user_of.pop(member, None)
        if key is None:
            return
        members = self.users[key]
        del members[member]
        if not members:
            del self.users[key]
            self.bus.unsubscribe(key)

    async def leave(self, *, room: str, member: Member) -> None:
        """Remove ``member``; the room is unsubscribed when its last local member leaves."""
        key = protocol.room_key(room)
        state = self.rooms.get(key)
        if state is None or member not in state.members:
            return
        del state.members[member]
        self._leave_user(member)
        state.greeted.pop(member, None)
        if not state.members:
            del self.rooms[key]
            if state.presence_task is not None:
                state.presence_task.cancel()
        try:
            await self.bus.presence_set(key, _entry(member), False)
        finally:
            # Someone may have joined the room again while presence_set waited: then the new
            # subscription (and its presence entries) belong to them and must stay.
            if not state.members and key not in self.rooms:
                self.bus.unsubscribe(key)

    def greet(self, *, room: str, member: Member) -> None:
        """Send a member that has read its history its first presence frame (itself included);
        from then on it gets a presence frame whenever the list it was last sent changes."""
        state = self.rooms.get(protocol.room_key(room))
        if state is None or member not in state.members:
            return
        names = sorted({*state.presence, _entry(member)})
        state.greeted[member] = names
        member.push(protocol.encode(protocol.presence_frame(names)))
        metrics.out("presence")

    def presence_of(self, room: str) -> list[str]:
        """The presence list last read for ``room`` (empty when it has no members here)."""
        state = self.rooms.get(protocol.room_key(room))
        return [protocol.presence_name(e) for e in state.presence] if state is not None else []

    def names_in(self, room: str) -> set[str]:
        """Everyone in ``room`` as far as this process knows now: the presence list last read (all
        processes) and the members here (who may have joined since)."""
        state = self.rooms.get(protocol.room_key(room))
        if state is None:
            return set()
        return {*(protocol.presence_name(e) for e in state.presence), *(m.name for m in state.members)}

    # --- Publishing -----------------------------------------------------------------------------

    async def publish_events(self, events: list[tuple[str, bytes]]) -> None:
        """Send stored messages' events, in order, to every process with members in their rooms.

        If the bus fails (Redis is down), members here get them at once, and each room's newest
        event is kept and published again once the bus works (the next publish, or its reconnect):
        other processes then fill whatever they missed from the store, as they do after their own
        reconnect. One warning per outage, not one per failed publish.
        """
        try:
            await self.bus.publish_many(events)
        except Exception as exc:
            metrics.redis_errors.inc()
            if not self.bus_failing:
                self.bus_failing = True
                log.warning(
                    "publishing failed (%s: %s); delivering in this process only until the bus is back",
                    type(exc).__name__,
                    exc,
                )
            for key, payload in events:
                self.unpublished[key] = payload
                self.on_event(key, payload)
            return
        if self.bus_failing:
            self.bus_failing = False
            log.warning("publishing through the bus again")
        if self.unpublished:
            await self._republish()

    async def _republish(self) -> None:
        """Publish each room's newest event that could not be published, now that the bus works."""
        events, self.unpublished = list(self.unpublished.items()), {}
        try:
            await self.bus.publish_many(events)
        except Exception:
            for key, payload in events:
                self.unpublished.setdefault(key, payload)

    async def publish_to_user(self, user_id: int, event: busevents.UserEvent) -> None:
        """Send ``event`` to a user's connections on every process (a mention, a read cursor). If
        the bus fails, connections here get it (it is also in the store: mentions, read state)."""
        key, payload = busevents.user_key(user_id), busevents.encode(event)
        try:
            await self.bus.publish(key, payload)
        except Exception:
            metrics.redis_errors.inc()
            self.on_event(key, payload)

    async def publish_typing(self, *, room: str, origin: str, text: str) -> None:
        """Tell the room's other members that someone types: a hint, so a failing bus drops it quietly."""
        with contextlib.suppress(Exception):
            await self.bus.publish(protocol.room_key(room), busevents.encode(busevents.Typing(origin, text)))

    # --- Events from the bus (pubsub.Sink) ------------------------------------------------------

    async def publish_control(self, events: list[busevents.ControlEvent]) -> None:
        """Send namespace changes to every process (this one included). If the bus fails, this
        process acts on them (the others go by the store at their next joins)."""
        for event in events:
            payload = busevents.encode(event)
            try:
                await self.bus.publish(busevents.CONTROL, payload)
            except Exception:
                metrics.redis_errors.inc()
                self.on_event(busevents.CONTROL, payload)

    def on_event(self, key: str, payload: bytes) -> None:
        """Called by the bus for each event of a room (or a user) with members here."""
        event = busevents.decode(payload)
        if isinstance(event, busevents.Removal):
            self._remove(event)
            return
        if isinstance(event, busevents.PolicyChanged):
            access.policies.forget(event.namespace)
            if event.visibility == "members":
                self.loop.create_task(self._close_outsiders(event.namespace), context=logs.detached())
            return
        if isinstance(event, busevents.UserEvent):
            sent = 0
            for member, room_key in self.users.get(key, {}).items():
                if (not event.room or event.room == room_key) and member.origin != event.origin:
                    member.push(event.text)
                    sent += 1
            metrics.out(metrics.frame_kind(event.text), sent)
            return
        state = self.rooms.get(key)
        if state is None or state.last is None:
            # Not subscribed yet, or no longer: anything already published is in the store and
            # the joiner's read of last_id comes after this, so nothing is lost by dropping it.
            return
        if isinstance(event, busevents.RoomEvent):
            self._on_room_event(state, event)
        elif isinstance(event, busevents.Typing):
            sent = 0
            for member in state.members:
                if member.ephemeral and member.origin != event.origin:
                    member.push(event.text)
                    sent += 1
            metrics.out("typing", sent)
        else:
            self._presence_changed(state)

    def _remove(self, event: busevents.Removal) -> None:
        """Close the connections a kick, a ban or a removal names (4410)."""
        for state in list(self.rooms.values()):
            if state.namespace != event.namespace or (event.room and state.display != event.room):
                continue
            if event.private_only and not state.private:
                continue
            for member in list(state.members):
                if (event.user_id and member.user_id == event.user_id) or (
                    event.guest and member.guest and member.name == event.guest
                ):
                    member.remove(protocol.CloseCode.REMOVED, event.reason, note=event.note, until=event.until)

    async def _close_outsiders(self, namespace: str) -> None:
        """A namespace became ``members``: close the connections of everyone who is not one (4410)."""
        states = [s for s in self.rooms.values() if s.namespace == namespace]
        user_ids = {m.user_id for s in states for m in s.members if m.user_id is not None}
        try:
            insiders = await db.call(selectors.insiders, namespace=namespace, user_ids=user_ids)
        except Exception:
            log.exception("namespace %s: reading its members failed; outsiders stay connected", namespace)
            return
        for state in states:
            for member in list(state.members):
                if member.user_id not in insiders:
                    member.remove(protocol.CloseCode.REMOVED, "removed")

    def on_resync(self, keys: Collection[str] | None = None) -> None:
        """The bus may have missed events: check every room (or those of ``keys``: a cluster's
        shard that failed over) against the store."""
        if self.unpublished:
            self.loop.create_task(self._republish(), context=logs.detached())
        for state in self.rooms.values():
            if state.last is not None and (keys is None or state.key in keys):
                state.resync = True
                self._start_fill(state)
                self._presence_changed(state)

    def _on_room_event(self, state: _Room, event: busevents.RoomEvent) -> None:
        assert state.last is not None
        seq = event.seq
        if seq <= state.last:
            return
        if seq == state.last + 1 and not state.filling:
            self._deliver(state, event)
            return
        state.pending[seq] = event
        self._start_fill(state)

    def _start_fill(self, state: _Room) -> None:
        if not state.filling and self.rooms.get(state.key) is state:
            state.filling = True
            self.loop.create_task(self._fill(state), context=logs.detached())

    async def _fill(self, state: _Room) -> None:
        """Deliver held messages in order, reading the ids missing before them from the store."""
        attempts = 0
        try:
            while True:
                self._deliver_pending(state)
                if not state.pending and not state.resync:
                    return
                assert state.last is not None and state.room_id is not None
                # Everything below the first held id; on resync, everything the store has.
                first_held = min(state.pending) if state.pending else None
                state.resync = False
                events = await db.call(
                    selectors.events_between, room_id=state.room_id, after=state.last, before=first_held or 2**62
                )
                for event in events:
                    if event.seq == state.last + 1:
                        self._deliver(state, event)
                if first_held is not None and state.last + 1 < first_held:
                    attempts += 1
                    if attempts >= FILL_ATTEMPTS:
                        log.error(
                            "room %s: ids %d..%d missing from the store; skipped",
                            state.name,
                            state.last + 1,
                            first_held - 1,
                        )
                        state.last = first_held - 1
                    else:
                        await asyncio.sleep(0.02 * 2**attempts)
                else:
                    attempts = 0
        except Exception as exc:
            metrics.backend_error(exc)
            log.exception("room %s: filling a gap failed; retrying", state.name)
            self.loop.call_later(0.5, self._start_fill, state)
        finally:
            state.filling = False

    def _deliver_pending(self, state: _Room) -> None:
        assert state.last is not None
        for seq in [s for s in state.pending if s <= state.last]:
            del state.pending[seq]
        while state.last + 1 in state.pending:
            self._deliver(state, state.pending.pop(state.last + 1))

    def _deliver(self, state: _Room, event: busevents.RoomEvent) -> None:
        """Event ``last + 1``: to every member (a seed or tutorial door: messages only, without
        their ``html`` and ``attachments``, ``protocol.plain``). Counted once per event (the hot
        path: nothing is added per member)."""
        state.last = seq = event.seq
        text = event.text
        members = state.members
        if event.message:
            plain: list[Member] | None = None
            for member in members:
                if member.ephemeral:
                    member.push(text, seq)
                elif plain is None:
                    plain = [member]
                else:
                    plain.append(member)
            if plain is not None:
                bare = protocol.plain(text)
                for member in plain:
                    member.push(bare, seq)
            _out_messages(len(members))
        else:
            sent = 0
            for member in members:
                if member.ephemeral:
                    member.push(text, seq)
                    sent += 1
            metrics.out(metrics.frame_kind(text), sent)
        metrics.delivered(text, time.time())

    # --- Presence -------------------------------------------------------------------------------

    def _presence_changed(self, state: _Room) -> None:
        state.presence_dirty = True
        if state.presence_task is None:
            state.presence_task = self.loop.create_task(self._send_presence(state), context=logs.detached())

    async def _send_presence(self, state: _Room) -> None:
        """Send the room's presence list when it changes, at most every PRESENCE_INTERVAL."""
        try:
            while state.presence_dirty:
                state.presence_dirty = False
                names = await self.bus.presence_names(state.key)
                state.presence = names
                text = None
                pushed = 0
                for member, sent in state.greeted.items():
                    if sent != names:
                        text = text or protocol.encode(protocol.presence_frame(names))
                        state.greeted[member] = names
                        member.push(text)
                        pushed += 1
                metrics.out("presence", pushed)
                await asyncio.sleep(PRESENCE_INTERVAL)
        except Exception as exc:
            if backends.down(exc):  # Redis going away (a failover): the next change sends the list again
                log.warning("room %s: presence update failed (%s: %s)", state.name, type(exc).__name__, exc)
            else:
                log.exception("room %s: presence update failed", state.name)
        finally:
            state.presence_task = None

    async def close(self) -> None:
        await self.bus.close()


def _make_bus(sink: pubsub.Sink) -> pubsub.Bus:
    if settings.REDIS_URL and redisconn.is_cluster(settings.REDIS_URL):
        return clusterbus.ClusterBus(
            sink,
            url=settings.REDIS_URL,
            prefix=settings.PARLEY_REDIS_PREFIX,
            socket_timeout=settings.PARLEY_REDIS_SOCKET_TIMEOUT,
        )
    if settings.REDIS_URL:
        return pubsub.RedisBus(
            sink,
            url=settings.REDIS_URL,
            prefix=settings.PARLEY_REDIS_PREFIX,
            socket_timeout=settings.PARLEY_REDIS_SOCKET_TIMEOUT,
        )
    return pubsub.LocalBus(sink)


_hub: Hub | None = None


def get_hub() -> Hub:
    """The hub of the running event loop (one per process; tests get a new one per loop)."""
    global _hub
    loop = asyncio.get_running_loop()
    if _hub is None or _hub.loop is not loop:
        _hub = Hub(_make_bus)
    return _hub


async def close_hub() -> None:
    """Close the running loop's hub (its bus, its Redis connections), if it has one."""
    global _hub
    hub = _hub
    if hub is not None and hub.loop is asyncio.get_running_loop():
        _hub = None
        await hub.close()
