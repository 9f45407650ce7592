"""Writes. Every change to a room (a message, an edit, a delete, a reaction) is stored through
``apply_changes``, whichever door it came through; ``actions`` calls it through the group commit.

These are synchronous ORM functions; async callers go through ``actions``.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField, Case, Value, When
from django.utils import timezone

from accounts.skeleton import skeletons
from search import index as search_index
from uploads.models import Upload

from . import protocol, store
from .access import DM_NAMESPACE
from .models import (
    AuditEntry,
    Event,
    Mention,
    Message,
    Namespace,
    NotifyLevel,
    ReadState,
    Room,
    RoomMember,
)
from .protocol import ErrorCode, ProtocolError


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """What a change did: the event it made (``created``), or the event a repeated ``client_id``
    made before (``created`` False), or nothing at all (``text`` None: a reaction already there)."""

    text: str | None  # the event's frame, encoded
    seq: int = 0
    created: bool = False
    message: bool = False  # the event posts a message
    notify: tuple[int, ...] = ()  # users to tell of a mention (a new message only)
    dm_to: tuple[int, ...] = ()  # a direct message's other member, told on their user channel
    quiet: frozenset[int] = frozenset()  # of those, the ones not to notify (their level: _tell)


def room_get_or_create(*, address: str) -> Room:
    """Return the room at ``address`` (``protocol.room_address``: validated and normalised). A room
    of ``public`` is created on first join (anyone may: its policy); one of another namespace must
    exist (``access.access_join`` creates it for those its policy allows): else not_found."""
    if "/" in address:
        room = Room.objects.filter(address=address).first()
        if room is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no room {address!r}")
        return room
    try:
        room, _ = Room.objects.get_or_create(address=address, defaults={"namespace_id": _public_id(), "name": address})
    except IntegrityError:  # the public namespace was removed and made again (a flushed test database)
        _PUBLIC_ID.clear()
        room, _ = Room.objects.get_or_create(address=address, defaults={"namespace_id": _public_id(), "name": address})
    return room


_PUBLIC_ID: list[int] = []  # the public namespace's id, once read


def _public_id() -> int:
    if not _PUBLIC_ID:
        public, _ = Namespace.objects.get_or_create(name=protocol.PUBLIC)
        _PUBLIC_ID.append(public.pk)
    return _PUBLIC_ID[0]


@dataclasses.dataclass(frozen=True, slots=True)
class Post:
    """A message to store: who said what where. The id is assigned when it is stored."""

    room: Room
    sender: str
    body: str
    user_id: int | None = None
    client_id: str | None = None
    session_key: str | None = None  # a guest's session: what lets them edit and delete it later
    reply_to: int | None = None
    mentions: tuple[str, ...] = ()  # names mentioned (``@name``), as in the frame
    notify: tuple[int, ...] = ()  # the registered users among them, told of the mention
    html: str = ""  # ``body`` rendered (markup.render), by the action: once, never per reader
    attachments: tuple[int, ...] = ()  # the ids of the sender's uploads it carries
    bot: bool = False  # sent by a bot account or a webhook: ``"bot": true`` in its frame


@dataclasses.dataclass(frozen=True, slots=True)
class Edit:
    room: Room
    target: int
    body: str
    sender: str
    user_id: int | None = None
    session_key: str | None = None
    edit_window: float = 0.0  # seconds after posting (the namespace's policy); 0: no limit
    html: str = ""
    attachments: tuple[int, ...] | None = None  # None: as they are


@dataclasses.dataclass(frozen=True, slots=True)
class Delete:
    room: Room
    target: int
    by: str
    user_id: int | None = None
    session_key: str | None = None
    moderator: bool = False  # may delete anyone's message


@dataclasses.dataclass(frozen=True, slots=True)
class React:
    room: Room
    target: int
    emoji: str
    add: bool
    sender: str
    user_id: int | None = None


Change = Post | Edit | Delete | React


def message_send(
    *, room: Room, sender: str, body: str, user_id: int | None = None, client_id: str | None = None
) -> Outcome:
    """Store one message in ``room`` with the next id (see ``apply_changes``); raises
    ProtocolError (forbidden) for a guest whose name looks like a registered user's."""
    result = apply_changes([Post(room=room, sender=sender, body=body, user_id=user_id, client_id=client_id)])[0]
    if isinstance(result, ProtocolError):
        raise result
    return result


def apply_changes(changes: list[Change]) -> list[Outcome | ProtocolError]:
    """Apply changes in one transaction (a group commit), each event with its room's next id.

    Every change is checked against the messages as they are at that point of the batch (a change
    may target a message posted earlier in the same batch), and either makes one event or is
    refused with a ProtocolError (not_found, forbidden, too_late) that stores nothing and takes no
    id; the rest of the batch goes on. A post whose ``client_id`` is already stored in its room
    returns the event that stored it (``created`` False); a reaction already there (or a removal of
    one that is not) changes nothing (``text`` None).

    A guest's post (no ``user_id``) whose sender looks like a registered user's name (the same
    confusable skeleton, ``accounts.skeleton``) is refused (forbidden): checked here, at store time,
    so a guest whose name was registered after they chose it cannot go on sending under it; it
    costs one indexed query per batch with guests.

    The rooms' rows are locked first, in id order so two batches never deadlock
    (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's IMMEDIATE transaction locks the database),
    then the events and new messages are inserted, changed messages updated, and every room's
    counter moves on. So ids are consecutive per room, rooms never wait for each other, and event
    N commits only after event N-1 has: fan-out can fill any gap from the store.
    """
    with transaction.atomic():
        posts = [c for c in changes if isinstance(c, Post)]
        last_ids, muted, seen, taken = _read(changes, posts)
        batch = _Batch(last_ids=last_ids, messages=_targets(changes), uploads=_uploads(changes))
        results: list[Outcome | ProtocolError] = []
        for change in changes:
            try:
                if muted and not isinstance(change, Delete) and (change.room.namespace_id, change.user_id) in muted:
                    until = muted[(change.room.namespace_id, change.user_id)]
                    raise ProtocolError(
                        ErrorCode.MUTED,
                        "you are muted in this namespace" + (f" until {until}" if until else ""),
                        until=until,
                    )
                if isinstance(change, Post):
                    key = (change.room.pk, change.client_id)
                    if change.client_id is not None and key in seen:
                        seq, text = seen[key]
                        results.append(Outcome(text=text, seq=seq, message=True))
                        continue
                    if taken and change.user_id is None and not taken.isdisjoint(skeletons(change.sender)):
                        raise _name_taken(change.sender)
                    outcome = batch.post(change)
                    if change.client_id is not None:
                        seen[key] = (outcome.seq, outcome.text or "")
                    results.append(outcome)
                elif isinstance(change, Edit):
                    results.append(batch.edit(change))
                elif isinstance(change, Delete):
                    results.append(batch.delete(change))
                else:
                    results.append(batch.react(change))
            except ProtocolError as error:
                results.append(error)
        results = _tell(changes, results)
        batch.write()
    return results


def _tell(changes: list[Change], results: list[Outcome | ProtocolError]) -> list[Outcome | ProtocolError]:
    """Who hears of each new message beyond its room: the users it mentions (``notify``), and in a
    direct message the other member (``dm_to``); ``quiet``: those of them not to be notified, by
    their level for the room: ``none``, or ``mentions`` (a direct message's reader who chose it) for
    a message that does not mention them. No query for a batch with neither."""
    new = [
        (i, c)
        for i, (c, r) in enumerate(zip(changes, results, strict=True))
        if isinstance(c, Post) and isinstance(r, Outcome) and r.created
    ]
    dm_rooms = {c.room.pk for _, c in new if c.room.address.startswith(DM_PREFIX)}
    if not dm_rooms and not any(c.notify for _, c in new):
        return results
    members: dict[int, list[int]] = {}
    for room_id, user_id in RoomMember.objects.filter(room_id__in=dm_rooms).values_list("room_id", "user_id"):
        members.setdefault(room_id, []).append(user_id)
    told = {(c.room.pk, u) for _, c in new for u in (*c.notify, *members.get(c.room.pk, ()))}
    levels = {
        (room_id, user_id): level
        for room_id, user_id, level in NotifyLevel.objects.filter(
            level__in=(NotifyLevel.Level.NONE, NotifyLevel.Level.MENTIONS),
            room_id__in={room for room, _ in told},
            user_id__in={user for _, user in told},
        ).values_list("room_id", "user_id", "level")
    }
    for i, c in new:
        outcome = results[i]
        assert isinstance(outcome, Outcome)
        dm_to = tuple(u for u in members.get(c.room.pk, ()) if u != c.user_id)
        hushed = frozenset(
            u
            for u in (*c.notify, *dm_to)
            if (level := levels.get((c.room.pk, u))) == NotifyLevel.Level.NONE
            or (level == NotifyLevel.Level.MENTIONS and u not in c.notify)
        )
        results[i] = dataclasses.replace(outcome, dm_to=dm_to, quiet=hushed)
    return results


DM_PREFIX = f"{DM_NAMESPACE}/"  # how a direct message room's address begins (protocol.room_address)


class _Batch:
    """The changes of one transaction, applied in memory in order, then written at once."""

    def __init__(
        self, *, last_ids: dict[int, int], messages: dict[tuple[int, int], Message], uploads: dict[int, Upload]
    ) -> None:
        self.last_ids = last_ids
        self.messages = messages  # (room pk, seq) -> message, as it is at this point of the batch
        self.uploads = uploads  # the uploads the changes name, by id (their room's row is locked)
        self.claimed: set[int] = set()  # uploads a change of this batch took
        self.claims: list[tuple[Message, list[int]]] = []  # a message and the uploads it now carries
        self.released: set[int] = set()  # uploads no message uses any more (an edit dropped them)
        self.discarded: list[int] = []  # uploads of deleted messages: removed, their files too
        self.now = timezone.now()
        self.events: list[store.NewEvent] = []
        self.new: list[Message] = []
        self.changed: dict[int, Message] = {}  # by pk: stored messages this batch changed
        self.mentions: list[Mention] = []
        self.audit: list[AuditEntry] = []  # moderators' deletes
        self.searched: dict[int, Message] = {}  # by id(): messages posted, edited or deleted (search.index)

    def _event(self, room: Room, kind: str, frame: Any) -> tuple[int, str]:
        seq = frame["id"]
        text = protocol.encode(frame)
        self.events.append(store.NewEvent(room.pk, seq, kind, text))
        return seq, text

    def _next(self, room: Room) -> int:
        self.last_ids[room.pk] += 1
        return self.last_ids[room.pk]

    def _changed(self, message: Message) -> None:
        if message.pk is not None:
            self.changed[message.pk] = message

    def _live(self, room: Room, target: int) -> Message:
        message = self.messages.get((room.pk, target))
        if message is None or message.deleted:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no message {target} in this room")
        return message

    def post(self, post: Post) -> Outcome:
        if post.reply_to is not None:
            parent = self._live(post.room, post.reply_to)
            parent.replies += 1
            self._changed(parent)
        attachments = self._claimable(post.room, post.user_id, post.attachments)
        seq = self._next(post.room)
        message = _new_message(post, seq=seq, attachments=attachments, now=self.now)
        self.new.append(message)
        self.messages[(post.room.pk, seq)] = message
        self.searched[id(message)] = message
        if post.attachments:
            self.claims.append((message, list(post.attachments)))
            self.claimed.update(post.attachments)
        frame = protocol.message_frame(
            seq=seq,
            room=post.room.name,
            sender=post.sender,
            message=post.body,
            created_at=self.now,
            client_id=post.client_id,
            reply_to=post.reply_to,
            mentions=list(post.mentions),
            html=post.html,
            attachments=attachments,
            bot=post.bot,
        )
        _, text = self._event(post.room, Event.Kind.MESSAGE, frame)
        self.mentions.extend(
            Mention(user_id=u, room_id=post.room.pk, seq=seq, created_at=self.now) for u in post.notify
        )
        return Outcome(text=text, seq=seq, created=True, message=True, notify=post.notify)

    def edit(self, edit: Edit) -> Outcome:
        message = self._live(edit.room, edit.target)
        if not _is_author(message, user_id=edit.user_id, session_key=edit.session_key):
            raise ProtocolError(ErrorCode.FORBIDDEN, "only its author may edit a message")
        window = edit.edit_window
        if window and (self.now - message.created_at).total_seconds() > window:
            raise ProtocolError(ErrorCode.TOO_LATE, f"messages can be edited for {window:g} seconds")
        attachments = message.attachments
        if edit.attachments is not None:
            before = {a["id"] for a in message.attachments}
            attachments = self._claimable(edit.room, edit.user_id, edit.attachments, keep=before)
            if not edit.body and not attachments:
                raise ProtocolError(ErrorCode.EMPTY_MESSAGE, "message is empty")
            self.released.update(before - set(edit.attachments))
            self.released.difference_update(edit.attachments)
            self.claims.append((message, list(edit.attachments)))
            self.claimed.update(edit.attachments)
            message.attachments = attachments
        elif not edit.body and not attachments:
            raise ProtocolError(ErrorCode.EMPTY_MESSAGE, "message is empty")
        message.body = edit.body
        message.html = edit.html
        message.edited = True
        self._changed(message)
        self.searched[id(message)] = message
        frame = protocol.edit_frame(
            seq=self._next(edit.room),
            room=edit.room.name,
            target=edit.target,
            message=edit.body,
            sender=edit.sender,
            when=self.now,
            html=edit.html,
            attachments=message.attachments,
        )
        seq, text = self._event(edit.room, Event.Kind.EDIT, frame)
        return Outcome(text=text, seq=seq, created=True)

    def delete(self, delete: Delete) -> Outcome:
        message = self._live(delete.room, delete.target)
        if not delete.moderator and not _is_author(message, user_id=delete.user_id, session_key=delete.session_key):
            raise ProtocolError(ErrorCode.FORBIDDEN, "only its author or a moderator may delete a message")
        if delete.moderator and not _is_author(message, user_id=delete.user_id, session_key=delete.session_key):
            self.audit.append(
                AuditEntry(
                    namespace_id=delete.room.namespace_id,
                    actor=delete.by,
                    action=AuditEntry.Action.DELETE,
                    target=f"message:{delete.target}",
                    ts=self.now,
                )
            )
        message.deleted = True
        message.body = ""
        message.html = ""
        self.discarded.extend(a["id"] for a in message.attachments)
        message.attachments = []
        message.reactions = {}
        self._changed(message)
        self.searched[id(message)] = message
        frame = protocol.delete_frame(
            seq=self._next(delete.room), room=delete.room.name, target=delete.target, by=delete.by, when=self.now
        )
        seq, text = self._event(delete.room, Event.Kind.DELETE, frame)
        return Outcome(text=text, seq=seq, created=True)

    def react(self, react: React) -> Outcome:
        message = self._live(react.room, react.target)
        names = message.reactions.get(react.emoji, [])
        if (react.sender in names) == react.add:
            return Outcome(text=None)  # already there, or already gone: nothing changes
        if react.add:
            message.reactions = {**message.reactions, react.emoji: [*names, react.sender]}
        else:
            rest = [n for n in names if n != react.sender]
            message.reactions = {k: v for k, v in message.reactions.items() if k != react.emoji}
            if rest:
                message.reactions[react.emoji] = rest
        self._changed(message)
        frame = protocol.reaction_frame(
            seq=self._next(react.room),
            room=react.room.name,
            target=react.target,
            emoji=react.emoji,
            sender=react.sender,
            add=react.add,
            when=self.now,
        )
        seq, text = self._event(react.room, Event.Kind.REACTION, frame)
        return Outcome(text=text, seq=seq, created=True)

    def _claimable(
        self, room: Room, user_id: int | None, ids: tuple[int, ...], *, keep: set[int] | None = None
    ) -> list[protocol.Attachment]:
        """The uploads ``ids`` as a message carries them, if each is the sender's own, to this room
        (else not_found, as for an upload that does not exist), and used by no other message
        (``keep``: those the message carries already; else conflict). An upload claimed earlier in
        the batch counts as used. Claims nothing yet."""
        found: list[protocol.Attachment] = []
        keep = keep or set()
        for upload_id in ids:
            upload = self.uploads.get(upload_id)
            if upload is None or user_id is None or upload.user_id != user_id or upload.room_id != room.pk:
                raise ProtocolError(ErrorCode.NOT_FOUND, f"no upload {upload_id} of yours to this room")
            if upload_id not in keep and (upload.message_id is not None or upload_id in self.claimed):
                raise ProtocolError(ErrorCode.CONFLICT, f"upload {upload_id} is attached to another message")
            found.append(upload.out())  # type: ignore[arg-type]  # the same keys as protocol.Attachment
        return found

    def write(self) -> None:
        """Insert the events and new messages (indexed for search), move the counters, update the
        changed messages: ``store.insert``'s one statement on PostgreSQL, then one statement per
        other kind of change."""
        if not self.events:
            return
        fresh = {id(m) for m in self.new}
        store.insert(
            new=self.new,
            events=self.events,
            mentions=self.mentions,
            last_ids={e.room_id: self.last_ids[e.room_id] for e in self.events},
            now=self.now,
            need_ids=bool(self.claims),
        )
        if self.changed:
            Message.objects.bulk_update(list(self.changed.values()), _STATE_FIELDS)
        # The search index, in this transaction: found from the commit on, or gone from it (one
        # upsert and one delete for the batch's stored messages it changed; ``insert`` indexed the new).
        search_index.apply(changed=[m for key, m in self.searched.items() if key not in fresh])
        if self.released:
            # Unused again from now: PARLEY_UPLOAD_UNUSED_HOURS counts from here (prune_uploads).
            Upload.objects.filter(pk__in=self.released).update(message=None, created_at=self.now)
        if self.claims:  # one UPDATE for the batch (a later claim of an upload wins: an edit's)
            owner = {upload_id: message.pk for message, ids in self.claims for upload_id in ids}
            carried_by = Case(*(When(pk=u, then=Value(m)) for u, m in owner.items()), output_field=BigIntegerField())
            Upload.objects.filter(pk__in=owner).update(message_id=carried_by)
        if self.discarded:  # their files follow after the commit (uploads.store.row_deleted)
            Upload.objects.filter(pk__in=self.discarded).delete()
        if self.audit:
            AuditEntry.objects.bulk_create(self.audit)


_STATE_FIELDS = ["body", "html", "attachments", "edited", "deleted", "reactions", "replies"]


def _new_message(post: Post, *, seq: int, attachments: list[Any], now: datetime.datetime) -> Message:
    """The message ``post`` makes, not stored yet (the insert sets its id). Made from its columns in
    the model's order (``from_db`` hands them to ``__init__`` by position; a test checks the order):
    ``Model.__init__`` with keywords loops over every field for each one given, 9.6 us a message
    against 3.7, and one is made for every message stored."""
    columns: dict[str, Any] = {
        "id": None,
        "room_id": post.room.pk,
        "seq": seq,
        "sender": post.sender,
        "user_id": post.user_id,
        "session_key": post.session_key,
        "body": post.body,
        "html": post.html,
        "attachments": attachments,
        "client_id": post.client_id,
        "created_at": now,
        "reply_to": post.reply_to,
        "mentions": list(post.mentions),
        "edited": False,
        "deleted": False,
        "reactions": {},
        "replies": 0,
        "bot": post.bot,
    }
    return Message.from_db(None, list(columns), list(columns.values()))


def _is_author(message: Message, *, user_id: int | None, session_key: str | None) -> bool:
    """A logged-in user wrote it, or a guest in the same Django session (a guest without one cannot)."""
    if user_id is not None:
        return message.user_id == user_id
    return session_key is not None and message.user_id is None and message.session_key == session_key


def read_cursor_move(*, user_id: int, room_id: int, up_to: int) -> tuple[int, bool]:
    """Move a user's read cursor in a room forward to ``up_to`` (at most the room's last event id);
    returns the cursor and whether it moved. One statement each way: concurrent reads of one user
    (two tabs) can only move it forward."""
    with transaction.atomic():
        last_id = Room.objects.filter(pk=room_id).values_list("last_id", flat=True).first() or 0
        up_to = min(up_to, last_id)
        state, created = ReadState.objects.select_for_update().get_or_create(
            user_id=user_id, room_id=room_id, defaults={"up_to": up_to}
        )
        if created:
            return up_to, up_to > 0
        if up_to <= state.up_to:
            return state.up_to, False
        state.up_to = up_to
        state.save(update_fields=["up_to"])
        return up_to, True


def _read(
    changes: list[Change], posts: list[Post]
) -> tuple[
    dict[int, int], dict[tuple[int, int | None], str | None], dict[tuple[int, str | None], tuple[int, str]], set[str]
]:
    """Lock the rooms and read what checking the changes needs (``store.read``, raw SQL): the
    rooms' ``last_id`` by pk; the mutes in force on the accounts making the
    changes, (namespace id, user id) -> the end (ISO 8601) or None; the posts whose ``client_id`` is
    already stored in their room, (room pk, client_id) -> (id, frame); the skeletons of registered
    usernames among those of the guests' names (``accounts.skeleton``)."""
    wanted = {(c.room.namespace_id, c.user_id) for c in changes if c.user_id is not None and not isinstance(c, Delete)}
    last_ids, mutes, seen, taken = store.read(
        rooms=sorted({c.room.pk for c in changes}),
        mutes=wanted,
        client_ids={(p.room.pk, p.client_id) for p in posts if p.client_id is not None},
        skeletons={s for p in posts if p.user_id is None for s in skeletons(p.sender)},
    )
    now = timezone.now()
    muted = {
        (n, u): protocol.format_ts(until) if until else None
        for n, u, until in mutes
        if (n, u) in wanted and (until is None or until > now)
    }
    return last_ids, muted, seen, taken


def _name_taken(sender: str) -> ProtocolError:
    return ProtocolError(ErrorCode.FORBIDDEN, f"{sender!r} is a registered user's name", reason=protocol.NAME_TAKEN)


def _uploads(changes: list[Change]) -> dict[int, Upload]:
    """The uploads the changes would attach: one query, only for a batch that attaches any."""
    wanted = {upload_id for c in changes if isinstance(c, Post | Edit) and c.attachments for upload_id in c.attachments}
    if not wanted:
        return {}
    # Locked (PostgreSQL): prune_uploads, removing an unused one meanwhile, waits for this commit.
    return {u.pk: u for u in Upload.objects.select_for_update().filter(pk__in=wanted)}


def _targets(changes: list[Change]) -> dict[tuple[int, int], Message]:
    """The stored messages the changes name (targets, and messages replied to): one query."""
    wanted = {
        (c.room.pk, c.reply_to if isinstance(c, Post) else c.target)
        for c in changes
        if not isinstance(c, Post) or c.reply_to is not None
    }
    if not wanted:
        return {}
    rows = Message.objects.filter(room_id__in={r for r, _ in wanted}, seq__in={s for _, s in wanted})
    return {(m.room_id, m.seq): m for m in rows if (m.room_id, m.seq) in wanted}


def prune(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Remove the messages (and their events, mentions, uploads) older than their namespace's
    ``retention_days`` (0: kept forever); return how many messages per namespace. Run daily by
    ``manage.py prune_messages``. A room's ``pruned_to`` moves to its newest removed event, so a
    resume from before it starts after it, and ids after it stay consecutive."""
    from . import policy

    now = now or timezone.now()
    removed: dict[str, int] = {}
    for ns in Namespace.objects.all():
        days = policy.resolve(ns).retention_days
        if not days:
            continue
        cutoff = now - datetime.timedelta(days=days)
        for room in Room.objects.filter(namespace=ns):
            with transaction.atomic():
                old = Message.objects.filter(room=room, created_at__lt=cutoff)
                newest = old.order_by("-seq").values_list("seq", flat=True).first()
                if newest is None:
                    continue
                # Their uploads go with them (the rows by cascade; the files after the commit:
                # uploads.store.row_deleted).
                # Every event up to the newest old message's (edits, reactions of old messages too).
                _, deleted = old.delete()
                count = deleted.get(Message._meta.label, 0)
                Event.objects.filter(room=room, seq__lte=newest).delete()
                Mention.objects.filter(room=room, seq__lte=newest).delete()
                Room.objects.filter(pk=room.pk, pruned_to__lt=newest).update(pruned_to=newest)
                removed[ns.name] = removed.get(ns.name, 0) + count
    return removed


def notify_level_set(*, user_id: int, room: Room, level: str) -> str:
    """Keep how the user wants to hear of the room (``NotifyLevel``); returns it."""
    NotifyLevel.objects.update_or_create(user_id=user_id, room=room, defaults={"level": level})
    return level
