"""The three WebSocket doors into a room. They share one path and differ only in their hooks.

- ``SeedConsumer``, ``/chat/<room>``: the lecture's page. Sends ``{"sender","message"}``, receives
  only chat messages, and bad input is ignored (its page cannot show an error).
- ``TutorialConsumer``, ``/ws/chat/<room>/``: the Channels tutorial's page. Sends ``{"message"}``.
- ``NativeConsumer``, ``/ws/rooms/<room>/`` and ``/ws/ns/<ns>/<room>/``: the full protocol of
  ``docs/protocol.md``; ``DirectConsumer``, ``/ws/dm/<username>/``: the same, in a direct message.

Who may join is ``access``'s answer, asked once at the handshake; the namespace's policy that comes
with it (``policy.Policy``) is what the connection goes by from then on.

Joining, sending and leaving are in ``RoomConsumer``; fan-out does not use the channel layer (one
layer message per recipient is what makes the tutorial slow) but ``broadcast.Hub``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from core import backends, inputs, logs, metrics
from core.clientaddr import scope_client_address

from . import access, actions, db, identity, namespaces, protocol, reads, selectors, services
from .access import Caller, NsAccess, RoomAccess
from .fanout import broadcast
from .fanout.outbox import Outbox, new_origin
from .identity import Identity
from .models import Room, Sanction
from .protocol import CloseCode, ErrorCode, ProtocolError
from .ratelimit import TokenBucket

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable
    from channels.consumer import _ChannelScope

log = logging.getLogger("parley.consumers")

# Seconds a connection closed for flooding has to take its close frame before its socket is reset.
FLOOD_CLOSE_GRACE = 0.5

# Reads of a history page or a thread that may be repeated because events went out during the read
# (``read_snapshot``): the last one is sent whatever it holds.
SNAPSHOT_READS = 5

_CLOSE_FOR = {
    ErrorCode.FORBIDDEN: CloseCode.FORBIDDEN,
    ErrorCode.RATE_LIMITED: CloseCode.TRY_AGAIN_LATER,
    ErrorCode.UNAUTHENTICATED: CloseCode.UNAUTHENTICATED,
    ErrorCode.UNAVAILABLE: CloseCode.TRY_AGAIN_LATER,
    ErrorCode.INTERNAL: CloseCode.INTERNAL_ERROR,
}

# Client frames by kind, for parley_events_in_total.
_IN_KIND = {
    protocol.SendMessage: "message",
    protocol.Edit: "edit",
    protocol.Delete: "delete",
    protocol.React: "reaction",
    protocol.Read: "read",
    protocol.HistoryRequest: "history",
    protocol.ThreadRequest: "thread",
    protocol.Typing: "typing",
    protocol.Ping: "ping",
}
_IN_INVALID = metrics.inbound["invalid"]


class Consumer(AsyncWebsocketConsumer):
    """Every WebSocket consumer of Parley's: Channels' without its thread hops (to close stale
    database connections, after each event and at the leave: every database call here goes through
    ``db`` or ``reads``, which do that around each call already) and without a channel layer."""

    # No channel layer per connection: fan-out goes through broadcast.Hub (see module docstring);
    # the alias names none, for anything that would look one up.
    channel_layer_alias = "parley.no-channel-layer"

    async def dispatch(self, message: Mapping[str, Any]) -> None:
        """Called for each ASGI event: its handler, as Channels names them, with no hop after it."""
        kind = message["type"]  # "websocket.receive" -> websocket_receive, as Channels names handlers
        handler = None if kind.startswith("_") else getattr(self, kind.replace(".", "_"), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']!r}")
        await handler(message)

    async def websocket_disconnect(self, message: Mapping[str, Any]) -> None:
        """Called when the socket closes: ``disconnect``, then the consumer ends; no groups to leave
        and no ``aclose_old_connections`` (Channels' hop to asgiref's executor thread per
        connection that leaves)."""
        await self.disconnect(message.get("code", 1005))  # 1005: the ASGI default (no status received)
        raise StopConsumer()


class RoomConsumer(Consumer):
    # Whether this door receives presence, typing and error frames.
    ephemeral = False
    door = "seed"  # its label in parley_connections
    connection_id = ""  # for its log lines and its outbox's origin (set in __call__)

    room: Room | None = None
    grant: RoomAccess  # the room as the caller may see it, with its namespace's policy
    outbox: Outbox | None = None
    after: int | None = None  # ?after= (the native door): the client already has every id up to it
    identity: Identity
    # History requests waiting for their page, and the task reading them (handle_history).
    history_wanted: collections.deque[protocol.HistoryRequest] | None = None
    history_task: asyncio.Task[None] | None = None
    # Changes waiting to be made, in order, and the task making them (write).
    # (None: a pong, answered once the changes sent before its ping are made.)
    writes: collections.deque[tuple[Coroutine[Any, Any, services.Outcome] | None, str | None]] | None = None
    write_task: asyncio.Task[None] | None = None

    # --- Hooks for the doors --------------------------------------------------------------------

    def parse(self, text: str) -> protocol.ClientFrame:
        """Called for each text frame: turn it into a client frame or raise ProtocolError."""
        raise NotImplementedError

    async def on_joined(self, *, last_id: int, snapshot: Any) -> None:
        """Called once the connection is a member of its room, before live frames flow."""

    async def on_bad_input(self, error: ProtocolError, *, client_id: str | None = None) -> None:
        """Called when a frame is refused. The seed and tutorial doors log it and go on."""
        log.info("ignored bad frame on %s: %s (%s)", self.scope["path"], error.code, error.detail)

    # --- Connection lifecycle -------------------------------------------------------------------

    async def connect(self) -> None:
        """Called on the handshake: check the room and the user, join, then go live.

        A refusal is an ``error`` frame and a close code, never an HTTP 500: a bad room, name or
        ``?after=`` closes with 4400 or 4403, a store that cannot be reached with 1013 ("try again
        later"). Whatever fails after the join, the connection leaves its room (``_leave``).
        """
        self.query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        if self.scope.get("parley.transport") == "sse":  # the native door over HTTP (chat/sse.py)
            self.door = "sse"
        self.budget = TokenBucket(rate=settings.PARLEY_FRAME_RATE_PER_SEC, burst=settings.PARLEY_FRAME_BURST)
        self.last_typing = 0.0
        try:
            refused = cast("tuple[ErrorCode, str] | None", self.scope.get("parley.auth_refused"))
            if refused is not None:  # a Bearer token that names no user, or could not be checked (parley.asgi)
                raise ProtocolError(*refused)
            kwargs = self.scope["url_route"]["kwargs"]
            self.check_inputs(kwargs)
            if "room" in kwargs:
                protocol.check_room_name(kwargs["room"])  # a malformed name: invalid_room, 4400
            self.check_params()
            self.identity, ns, grant = await self._admit()
            policy = ns.policy
            self.limits = policy.limits()
            self.bucket = TokenBucket(rate=policy.rate_per_sec, burst=policy.rate_burst)
            self.outbox = Outbox(
                send=self.base_send,
                name=self.identity.name,
                ephemeral=self.ephemeral,
                limit=settings.PARLEY_SEND_QUEUE_MAX,
                on_overflow=self._on_overflow,
                on_remove=self._on_removed,
                origin=self.connection_id or None,
                user_id=self.identity.user_id,
                guest=self.identity.guest,
                bot=self.identity.bot,
            )
            # Every message up to last_id is in the store; every later one reaches the outbox
            # through the hub. Nothing is missed, and the outbox drops ids <= last_id (sent as history).
            user_id = self.identity.user_id if self.ephemeral else None  # mentions, read cursors
            hub = broadcast.get_hub()
            if grant is None:  # an anonymous guest in public: the hub refuses a private room
                self.room = await hub.join(room=self.address(), member=self.outbox, user_id=user_id, public_only=True)
                grant = RoomAccess(ns=ns, room=self.room)
            else:
                self.room = await hub.join(room=grant.room.address, member=self.outbox, user_id=user_id)
            self.grant = grant
            metrics.connections[self.door].inc()  # down in _leave
            # The history may be read at a later moment than the hub's last id: it then holds every
            # event up to its own last id, and the outbox drops those (they are in the history).
            snapshot, last_id = await self.read_on_join(last_id=self.room.last_id)
        except ProtocolError as error:
            await self._leave()
            if error.code is ErrorCode.NOT_FOUND:  # hidden or missing: one answer, that tells nothing
                error = ProtocolError(ErrorCode.FORBIDDEN, access.NOT_YOURS)
            await self._refuse(error, _CLOSE_FOR.get(error.code, CloseCode.INVALID_ROOM))
            return
        except Exception as exc:
            # The store cannot be reached (a Redis outage does not get here: the hub goes on
            # locally): the client retries, nothing was half done. Anything else is a bug: 1011.
            failure = _failed(exc, f"refused a handshake to {self.scope['path']}")
            await self._leave()
            await self._refuse(failure, _close_for_failure(failure))
            return
        # Accept only now: a client whose handshake is complete is subscribed, so the seed and
        # tutorial doors (which get no history) receive every message sent after their handshake.
        await self.accept()
        try:
            await self.on_joined(last_id=last_id, snapshot=snapshot)
        except Exception as exc:  # the rest of a resume could not be read: the client resumes later
            failure = _failed(exc, f"closing {self.scope['path']} during its history")
            await self._leave()
            await self._refuse(failure, _close_for_failure(failure), accepted=True)
            return
        assert self.outbox is not None
        # A resuming client may have seen ids this process has not delivered yet (through another
        # process): the floor is the larger of the two, so none of them reaches it twice.
        floor = max(last_id, self.after or 0)
        server_send = cast("ASGISendCallable | None", self.scope.get("parley.server_send"))
        self.outbox.start(floor=floor, server_send=server_send)
        self.on_live()

    async def _refuse(self, error: ProtocolError, code: int, *, accepted: bool = False) -> None:
        """Called when the handshake cannot go on: an error frame, then close with ``code``."""
        if not accepted:
            await self.accept()
        await self.send(text_data=protocol.encode(protocol.refusal_frame(error)))  # with its reason (name_taken)
        metrics.out("error")
        await self.close(code=code)

    async def _admit(self) -> tuple[Identity, NsAccess, RoomAccess | None]:
        """Who this is, the namespace, and the room if they may join it (``access``), in one trip
        to the database. An anonymous guest (no account, session or chosen name) joining a room of
        ``public`` needs none: its policy is kept a few seconds (``access.policies``), and the hub
        refuses a private room when it reads the room (None: the room is left to the hub), so a
        class of guests joining costs what it did before namespaces."""
        user, session, requested = self.scope.get("user"), self.scope.get("session"), self._param("name")
        who = identity.anonymous_guest(user=user, session=session, requested_name=requested)
        if who is not None and self.scope["url_route"]["kwargs"].get("ns", protocol.PUBLIC) == protocol.PUBLIC:
            ns = access.policies.get(protocol.PUBLIC)
            if ns is None:
                ns = await db.call(access.access_namespace, access.GUEST, protocol.PUBLIC)
                access.policies.put(ns)
            if not ns.policy.allow_guests:
                raise ProtocolError(ErrorCode.FORBIDDEN, "guests are not allowed here: log in to chat")
            return who, ns, None
        return await db.call(self._resolve, user, session, requested, scope_client_address(self.scope))

    def _resolve(
        self, user: Any, session: Any, requested: str | None, address: str | None
    ) -> tuple[Identity, NsAccess, RoomAccess]:
        who = identity.identity_resolve(user=user, session=session, requested_name=requested, address=address)
        grant = self.admit_room(who)
        return who, grant.ns, grant

    def address(self) -> str:
        """The address of the room asked for (``protocol.room_address``)."""
        kwargs = self.scope["url_route"]["kwargs"]
        return protocol.room_address(kwargs.get("ns", protocol.PUBLIC), protocol.check_room_name(kwargs["room"]))

    def admit_room(self, who: Identity) -> RoomAccess:
        """Called (on the database thread) with the caller's identity: the room they join, or
        ProtocolError (not_found: hidden or missing; forbidden)."""
        kwargs = self.scope["url_route"]["kwargs"]
        caller = Caller(user_id=who.user_id, staff=who.staff, bot=who.bot)
        return access.access_join(caller, kwargs.get("ns", protocol.PUBLIC), kwargs["room"])

    def on_live(self) -> None:
        """Called once live frames flow to the client (its outbox has started)."""

    async def read_on_join(self, *, last_id: int) -> tuple[Any, int]:
        """Called once the connection has joined its room (every event after ``last_id`` reaches
        it through the hub), before the handshake is accepted: whatever ``on_joined`` needs from
        the store (the native door: the first history page), and the id of the last event it
        holds (at least ``last_id``)."""
        return None, last_id

    async def __call__(self, scope: _ChannelScope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        """Called by the router for each connection: Channels' consumer loop without a channel
        layer (fan-out does not use one) and without a task and an ``asyncio.wait`` per event
        (there is one source of events, awaited directly): less CPU per frame and less memory per
        idle connection."""
        self.scope = scope
        self.channel_layer = None  # type: ignore[assignment]  # none per connection: see channel_layer_alias
        self.base_send = send
        self.connection_id = new_origin()
        logs.set_connection(self.connection_id)  # this connection's task: its log lines carry its id
        try:
            while True:
                await self.dispatch(await receive())
                # A burst of frames arrives in one read and waits in the server's queue: work
                # through it one frame per turn of the event loop, so other rooms are not held up.
                await asyncio.sleep(0)
        except StopConsumer:
            pass
        except Exception:
            # A bug, or a backend failing in a way nothing above handles: the connection ends
            # (1011), and it must not stay a member of its room (a ghost in presence).
            log.exception("connection to %s failed", scope.get("path"))
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": CloseCode.INTERNAL_ERROR, "reason": None})
        finally:
            await self._leave()

    def check_inputs(self, kwargs: Mapping[str, Any]) -> None:
        """Called first at the handshake: the path's parts and the query's parameters go through
        ``core.inputs`` (no NUL, no lone surrogate, no control character in a name), as every
        string that enters Parley does; a refusal names the field (close 4400)."""
        try:
            inputs.check_pairs(kwargs.items())
            inputs.check_pairs(self.query.items())
        except inputs.BadInput as bad:
            raise protocol.field_error(bad) from None

    def check_params(self) -> None:
        """Called during the handshake to validate door-specific query parameters."""

    async def disconnect(self, code: int) -> None:
        """Called when the socket closes, for whatever reason."""
        await self._leave()

    async def _leave(self) -> None:
        """Leave the room, once, whatever happened before: every way out of a connection comes here.
        Presence that cannot be written now (Redis down) is written by the bus when Redis is back."""
        outbox, self.outbox = self.outbox, None
        if outbox is None:
            return
        outbox.stop()
        current = asyncio.current_task()
        for task in (self.history_task, self.write_task):
            if task is not None and task is not current:  # a refusal in a write can end the connection
                task.cancel()
        for action, _ in self.writes or ():
            if action is not None:
                action.close()  # never started: nothing was submitted
        self.writes = None
        if self.room is not None:
            metrics.connections[self.door].dec()
            try:
                await broadcast.get_hub().leave(room=self.room.address, member=outbox)
            except Exception as exc:
                log.warning("leaving %s: %s: %s", self.room.name, type(exc).__name__, exc)

    def _on_removed(self, code: int, reason: str, note: str, until: str | None) -> None:
        """Called by the hub when this connection's user is kicked, banned or no longer a member:
        a ``removed`` frame (the native door: why, the moderator's words, a ban's end), then close
        with ``code`` (4410) and ``reason`` at once; the member leaves its room."""
        log.info("closing a connection to %s: %s", self.room, reason)
        if self.ephemeral:
            self.push(protocol.encode(protocol.removed_frame(reason=reason, note=note, until=until)))
        if self.outbox is not None and self.outbox.close_now(code, grace=FLOOD_CLOSE_GRACE, reason=reason):
            return
        self.outbox_task = broadcast.get_hub().loop.create_task(self._close_removed(code, reason))

    async def _close_removed(self, code: int, reason: str) -> None:
        await self.close(code=code, reason=reason)
        await self._leave()

    def _on_overflow(self) -> None:
        """Called by the outbox when this client is too far behind: close with 1013. Under uvicorn the
        close frame goes straight to the socket, which is aborted if the client has not taken it
        within PARLEY_SLOW_CLIENT_GRACE seconds (``Outbox.close_now``); the disconnect runs at once
        and the member leaves its room."""
        log.info("closing a slow client in %s", self.room)
        grace = settings.PARLEY_SLOW_CLIENT_GRACE
        if self.outbox is not None and self.outbox.close_now(CloseCode.TRY_AGAIN_LATER, grace=grace):
            return
        self.outbox_task = broadcast.get_hub().loop.create_task(self.close(code=CloseCode.TRY_AGAIN_LATER))

    # --- Client frames --------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Called for each frame from the client (none once it has left: closed by the server)."""
        if self.outbox is None or self.outbox.closed:
            return
        if text_data is None:
            _IN_INVALID.inc()
            await self.refuse(ProtocolError(ErrorCode.INVALID_FRAME, "binary frames are not accepted"))
            return
        if _too_big(text_data, settings.PARLEY_MAX_FRAME_BYTES):
            _IN_INVALID.inc()
            await self.close(code=CloseCode.MESSAGE_TOO_BIG)
            return
        try:
            frame = self.parse(text_data)
        except ProtocolError as error:
            _IN_INVALID.inc()
            await self.refuse(error, client_id=error.client_id)
            return
        metrics.inbound[_IN_KIND.get(type(frame), "invalid")].inc()
        if isinstance(frame, protocol.SendMessage):
            await self.handle_message(frame)
        elif await self.spend():
            await self.handle(frame)

    async def spend(self) -> bool:
        """Take one token of the connection's frame budget (every frame but an accepted message
        costs one); past the budget, close with 1008 and return False."""
        if self.budget.take():
            return True
        assert self.outbox is not None
        log.info("closing a connection to %s that sent too many frames", self.scope["path"])
        # At once, without reading what it has sent meanwhile (a flooder's socket holds thousands of
        # frames): the close frame goes out, and the socket is reset FLOOD_CLOSE_GRACE s later.
        if not self.outbox.close_now(CloseCode.POLICY_VIOLATION, grace=FLOOD_CLOSE_GRACE, reason="too many frames"):
            await self.close(code=CloseCode.POLICY_VIOLATION, reason="too many frames")
        await self._leave()  # at once: no more frames to it, none of its frames read, out of presence
        return False

    async def refuse(self, error: ProtocolError, *, client_id: str | None = None) -> None:
        """Answer a frame that cannot be accepted (``on_bad_input``); refusals count against the
        frame budget, so a client that keeps sending what is refused is closed."""
        if await self.spend():
            await self.on_bad_input(error, client_id=client_id)

    async def handle(self, frame: protocol.ClientFrame) -> None:
        """Called for each valid frame other than a message."""
        assert self.room is not None
        if isinstance(frame, protocol.HistoryRequest):
            await self.handle_history(frame)
        elif isinstance(frame, protocol.Typing):
            await self.handle_typing()
        elif isinstance(frame, protocol.Ping):
            if self.write_task is not None and self.writes is not None:
                self.writes.append((None, None))  # after the changes sent before it: a barrier
            else:
                self.push(protocol.PONG)
        elif isinstance(frame, protocol.Edit):
            edit = actions.do_edit(
                room=self.room,
                who=self.identity,
                target=frame.target,
                text=frame.message,
                edit_window=self.grant.policy.edit_window,
                attachments=frame.attachments,
            )
            self.write(edit)
        elif isinstance(frame, protocol.Delete):
            delete = actions.do_delete(
                room=self.room, who=self.identity, target=frame.target, moderator=self.grant.moderator
            )
            self.write(delete)
        elif isinstance(frame, protocol.React):
            change = actions.do_react(
                room=self.room, who=self.identity, target=frame.target, emoji=frame.emoji, add=frame.add
            )
            self.write(change)
        elif isinstance(frame, protocol.Read):
            await self.handle_read(frame)
        elif isinstance(frame, protocol.ThreadRequest):
            await self.handle_thread(frame)

    async def handle_message(self, frame: protocol.SendMessage) -> None:
        assert self.room is not None
        if not self.bucket.take():
            await self.refuse(_rate_limited(self.bucket), client_id=frame.client_id)
            return
        send = actions.do_send_message(
            room=self.room,
            who=self.identity,
            text=frame.message,
            client_id=frame.client_id,
            sender=frame.sender,
            reply_to=frame.reply_to,
            attachments=frame.attachments,
        )
        self.write(send, client_id=frame.client_id)

    def write(self, action: Coroutine[Any, Any, services.Outcome], *, client_id: str | None = None) -> None:
        """Hand a change (a message, an edit, a delete, a reaction) to this connection's writer:
        the changes of one connection are made in the order they came, and the receive loop does
        not wait for their commits (it goes on answering, and refusing, what comes next)."""
        if self.writes is None:
            self.writes = collections.deque()
        self.writes.append((action, client_id))
        if self.write_task is None:
            self.write_task = asyncio.get_running_loop().create_task(self._write_changes())

    async def _write_changes(self) -> None:
        try:
            while self.writes:
                action, client_id = self.writes.popleft()
                if action is None:
                    self.push(protocol.PONG)
                    continue
                outcome = await self.change(action, client_id=client_id)
                if outcome is not None and not outcome.created and outcome.text is not None:
                    self.push(outcome.text)  # a retry: the sender alone gets the stored event again
        finally:
            self.write_task = None

    async def change(
        self, action: Coroutine[Any, Any, services.Outcome], *, client_id: str | None = None
    ) -> services.Outcome | None:
        """Run an action that changes the room; its event reaches everyone (this client too)
        through the hub. A refusal is an error frame; a store that is down, ``unavailable``
        (nothing was stored: the client resends, a message with the same client_id, safely)."""
        try:
            return await action
        except ProtocolError as error:
            await self.refuse(error, client_id=client_id)
        except Exception as exc:
            await self.on_bad_input(_failed(exc, f"a change to {self.room} was not stored"), client_id=client_id)
        return None

    async def handle_read(self, frame: protocol.Read) -> None:
        assert self.room is not None and self.outbox is not None
        origin = self.outbox.origin
        try:
            await actions.do_read(room=self.room, who=self.identity, up_to=frame.up_to, origin=origin)
        except ProtocolError as error:
            await self.refuse(error)
        except Exception as exc:
            await self.on_bad_input(_failed(exc, f"a read cursor in {self.room} was not stored"))

    async def handle_thread(self, frame: protocol.ThreadRequest) -> None:
        assert self.room is not None
        try:
            replies, as_of = await self.read_snapshot(
                selectors.thread, room_id=self.room.pk, room=self.room.name, target=frame.target
            )
        except Exception as exc:
            await self.on_bad_input(_failed(exc, f"a thread of {self.room} was not read"))
            return
        if replies is None:
            await self.refuse(ProtocolError(ErrorCode.NOT_FOUND, f"no message {frame.target} in this room"))
            return
        self.push_after(as_of, protocol.encode(protocol.thread_frame(frame.target, replies)))

    async def handle_history(self, frame: protocol.HistoryRequest) -> None:
        """Called for a history request: answered in order by this connection's history task, so the
        receive loop goes on meanwhile (a page may wait behind other connections' reads, and a
        client that goes away must leave its room at once, not after its pages)."""
        if not self.bucket.take():
            await self.refuse(_rate_limited(self.bucket))
            return
        if self.history_wanted is None:
            self.history_wanted = collections.deque()
        self.history_wanted.append(frame)
        if self.history_task is None:
            self.history_task = asyncio.get_running_loop().create_task(self._serve_history())

    async def _serve_history(self) -> None:
        assert self.room is not None and self.history_wanted is not None
        try:
            while self.history_wanted:
                frame = self.history_wanted.popleft()
                if frame.around is not None:
                    await self._serve_around(frame.around, frame.limit)
                    continue
                before = frame.before if frame.before is not None else 2**62
                try:
                    messages, has_more, as_of = await self.read_snapshot(
                        selectors.history_page,
                        room_id=self.room.pk,
                        room=self.room.name,
                        before=before,
                        limit=frame.limit,
                    )
                except Exception as exc:
                    await self.on_bad_input(_failed(exc, f"a history page of {self.room} was not read"))
                    continue
                self.push_after(as_of, protocol.encode(protocol.history_frame(messages, has_more=has_more)))
        finally:
            self.history_task = None

    async def _serve_around(self, around: int, limit: int) -> None:
        """A history request with ``around``: the page around that message (``has_newer`` too)."""
        assert self.room is not None
        try:
            messages, has_more, has_newer, as_of = await self.read_snapshot(
                selectors.history_around_page, room_id=self.room.pk, room=self.room.name, around=around, limit=limit
            )
        except Exception as exc:
            await self.on_bad_input(_failed(exc, f"a history page of {self.room} was not read"))
            return
        frame = protocol.history_frame(messages, has_more=has_more, has_newer=has_newer)
        self.push_after(as_of, protocol.encode(frame))

    async def handle_typing(self) -> None:
        assert self.room is not None
        now = time.monotonic()
        if now - self.last_typing < protocol.TYPING_MIN_INTERVAL:
            return
        self.last_typing = now
        assert self.outbox is not None
        await actions.do_typing(room=self.room, who=self.identity, origin=self.outbox.origin)

    # --- Helpers --------------------------------------------------------------------------------

    async def read_snapshot(self, read: Callable[..., Any], **kwargs: Any) -> Any:
        """Read a snapshot of messages (``read`` returns a tuple ending with its ``as_of``) that is
        not older than what this client has already been sent: an event delivered while the read
        ran (committed after its snapshot began) would be undone by the snapshot, so read again
        (up to SNAPSHOT_READS times; ids only grow, so a quiet moment ends it)."""
        for _ in range(SNAPSHOT_READS - 1):
            result = await reads.read(read, **kwargs)
            if self.outbox is None or result[-1] >= self.outbox.floor:
                return result
        return await reads.read(read, **kwargs)

    def push(self, text: str) -> None:
        """Queue a frame for this client only, in order with the room's frames."""
        if self.outbox is not None:
            self.outbox.push(text)
            metrics.out(metrics.frame_kind(text))

    def push_after(self, as_of: int, text: str) -> None:
        """Queue a snapshot of messages as of event ``as_of`` (a history page, a thread) for this
        client, after every event up to ``as_of``: it replaces what the client had of them, and
        no event is applied to it twice."""
        if self.outbox is not None:
            self.outbox.push_after(as_of, text)
            metrics.out(metrics.frame_kind(text))

    def _param(self, key: str) -> str | None:
        values = self.query.get(key)
        return values[-1] if values else None


def _too_big(text: str, limit: int) -> bool:
    # UTF-8 takes at most 4 bytes a character: skip the encode when the text is clearly small.
    return len(text) * 4 > limit and (len(text) > limit or len(text.encode("utf-8")) > limit)


def _unavailable() -> ProtocolError:
    return ProtocolError(ErrorCode.UNAVAILABLE, "the server cannot reach its store right now; try again shortly")


def _failed(exc: Exception, what: str) -> ProtocolError:
    """The answer to a failure: ``unavailable`` when a backend is down (the client tries again
    later), ``internal`` for anything else, a bug, logged with its traceback (``core.backends``)."""
    if backends.down(exc):
        metrics.backend_error(exc)
        log.warning("%s: %s: %s", what, type(exc).__name__, exc)
        return _unavailable()
    log.error("%s: %s: %s", what, type(exc).__name__, exc, exc_info=exc)
    return ProtocolError(ErrorCode.INTERNAL, "the server failed (a bug, logged); this was not done")


def _close_for_failure(failure: ProtocolError) -> CloseCode:
    return CloseCode.TRY_AGAIN_LATER if failure.code is ErrorCode.UNAVAILABLE else CloseCode.INTERNAL_ERROR


def _rate_limited(bucket: TokenBucket) -> ProtocolError:
    return ProtocolError(
        ErrorCode.RATE_LIMITED, f"over {bucket.rate:g} frames/s (burst {bucket.burst}); slow down and resend"
    )


class SeedConsumer(RoomConsumer):
    """``/chat/<room>``: the lecture's ``{"sender", "message"}`` page."""

    def parse(self, text: str) -> protocol.ClientFrame:
        return protocol.parse_seed(text, self.limits)


class TutorialConsumer(RoomConsumer):
    """``/ws/chat/<room>/``: the Channels tutorial's ``{"message"}`` page."""

    door = "tutorial"

    def parse(self, text: str) -> protocol.ClientFrame:
        return protocol.parse_tutorial(text, self.limits)


class NativeConsumer(RoomConsumer):
    """``/ws/rooms/<room>/``: hello, history, live messages, presence, typing, errors."""

    ephemeral = True
    door = "native"

    def parse(self, text: str) -> protocol.ClientFrame:
        return protocol.parse_native(text, self.limits)

    def check_params(self) -> None:
        raw = self._param("after")
        self.after: int | None = None if raw is None else protocol.parse_after(raw)

    async def read_on_join(self, *, last_id: int) -> tuple[Any, int]:
        """The first history page (the newest messages as they are now, or the first events after
        ``?after=``), a logged-in user's read cursor and mute, in one trip to a read thread, read
        as of one moment: the id of the room's last event then is the hello's ``last_id``."""
        if self.identity.user_id is None and (last_id == 0 or (self.after is not None and self.after >= last_id)):
            return ([], False, None, None), last_id  # nothing to read: no trip to the database
        return await reads.read(self._first_page, last_id)

    def _first_page(self, last_id: int) -> tuple[tuple[list[Any], bool, int | None, protocol.Muted | None], int]:
        assert self.room is not None
        user_id = self.identity.user_id
        with selectors.snapshot():
            as_of = max(last_id, selectors.room_last_id(room_id=self.room.pk))
            read_up_to = muted = None
            if user_id is not None:
                read_up_to = selectors.read_up_to(user_id=user_id, room_id=self.room.pk)
                muted = self._muted(user_id)
            if self.after is not None:  # events the retention job removed cannot be resumed
                self.after = max(self.after, selectors.room_pruned_to(room_id=self.room.pk))
            if as_of == 0 or (self.after is not None and self.after >= as_of):
                return ([], False, read_up_to, muted), as_of
            if self.after is None:
                messages, has_more = selectors.history_before(
                    room_id=self.room.pk, room=self.room.name, before=as_of + 1, limit=self.grant.policy.history_on_join
                )
                return (messages, has_more, read_up_to, muted), as_of
            events, has_more = self._resume_page(self.after, as_of)
            return (events, has_more, read_up_to, muted), as_of

    def _muted(self, user_id: int) -> protocol.Muted | None:
        """The caller's mute in the room's namespace (hello tells the page from the start)."""
        muted, until = access.sanction_until(Caller(user_id=user_id), self.grant.ns, Sanction.Kind.MUTE)
        return {"until": until} if muted else None

    def _resume_page(self, after: int, last_id: int) -> tuple[list[Any], bool]:
        """The events after ``after`` up to ``last_id``, one page, as they were sent live."""
        assert self.room is not None
        return selectors.events_page(
            room_id=self.room.pk, after=after, until=last_id, limit=self.limits.history_page_max
        )

    async def on_joined(self, *, last_id: int, snapshot: Any) -> None:
        """Send hello, then history: the newest messages as they are now, or every event after
        ``?after=``, page by page."""
        assert self.room is not None
        messages, has_more, read_up_to, muted = snapshot
        await self.send_frame(
            protocol.hello_frame(
                room=self.room.name,
                namespace=self.grant.policy.namespace,
                name=self.identity.name,
                guest=self.identity.guest,
                last_id=last_id,
                read_up_to=read_up_to,
                limits=self.client_limits(),
                muted=muted,
            )
        )
        await self.send_frame(protocol.history_frame(messages, has_more=has_more))
        after = self.after or 0
        while self.after is not None and has_more:  # the rest of a resume, page by page
            after += len(messages)
            messages, has_more = await reads.read(self._resume_page, after, last_id)
            await self.send_frame(protocol.history_frame(messages, has_more=has_more))

    def on_live(self) -> None:
        """The first presence frame: after the history, and only then."""
        assert self.room is not None and self.outbox is not None
        broadcast.get_hub().greet(room=self.room.address, member=self.outbox)

    async def on_bad_input(self, error: ProtocolError, *, client_id: str | None = None) -> None:
        self.push(protocol.encode(protocol.refusal_frame(error, client_id=client_id)))

    async def send_frame(self, frame: Any) -> None:
        await self.send(text_data=protocol.encode(frame))
        metrics.out(frame["type"])

    def client_limits(self) -> dict[str, Any]:
        """The policy and limits a client should know, sent in hello so a UI can honour them up front."""
        return self.grant.policy.client_limits()


class DirectConsumer(NativeConsumer):
    """``/ws/dm/<username>/``: the caller's direct messages with ``username`` (a private room of
    the two, made on first use). Guests have none; an unknown user is ``forbidden`` + 4403."""

    def admit_room(self, who: Identity) -> RoomAccess:
        grant, self.other = namespaces.dm_room(
            Caller(user_id=who.user_id, staff=who.staff), self.scope["url_route"]["kwargs"]["dm"]
        )
        return grant

    async def _admit(self) -> tuple[Identity, NsAccess, RoomAccess | None]:
        user, session = self.scope.get("user"), self.scope.get("session")
        return await db.call(self._resolve, user, session, None, scope_client_address(self.scope))
