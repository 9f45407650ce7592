"""A room as the client knows it: its messages in their current state, built from the native door's
frames. Pure (no I/O), so it is tested without a server and shared by ``chat`` and the tests.

The rules it keeps (docs/protocol.md):
- ``cursor`` is the id of the last **event** applied (of any kind). An event with an id at or below
  it was applied already and changes nothing: a resume, a resend or a race never doubles anything.
- A join's ``history`` holds messages in their current state (it replaces what we had); a resume's
  holds events (applied one by one); an older page (``before``) replaces our copies of its messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROOM_EVENTS = ("message", "edit", "delete", "reaction")


@dataclass
class Message:
    id: int
    sender: str
    text: str
    ts: str = ""
    client_id: str | None = None
    reply_to: int | None = None
    mentions: list[str] = field(default_factory=list)
    edited: bool = False
    deleted: bool = False
    reactions: dict[str, list[str]] = field(default_factory=dict)
    replies: int = 0
    bot: bool = False
    attachments: list[dict[str, Any]] = field(default_factory=list)  # uploads: name, size, url (docs/uploads.md)

    @classmethod
    def from_frame(cls, frame: dict[str, Any]) -> Message:
        """A ``message`` frame, live (a new message) or with its state (history, a page)."""
        return cls(
            id=int(frame["id"]),
            sender=str(frame.get("sender", "")),
            text=str(frame.get("message", "")),
            ts=str(frame.get("ts", "")),
            client_id=frame.get("client_id"),
            reply_to=frame.get("reply_to"),
            mentions=list(frame.get("mentions") or []),
            edited=bool(frame.get("edited", False)),
            deleted=bool(frame.get("deleted", False)),
            reactions={k: list(v) for k, v in (frame.get("reactions") or {}).items()},
            replies=int(frame.get("replies", 0) or 0),
            bot=bool(frame.get("bot", False)),
            attachments=[a for a in frame.get("attachments") or [] if isinstance(a, dict)],
        )


@dataclass
class Room:
    """The messages of one room, by id, and how far the event stream has been applied."""

    messages: dict[int, Message] = field(default_factory=dict)
    cursor: int | None = None  # the last event id applied; None before the first join's history
    older: bool = False  # whether the server has messages older than the oldest we hold
    applied: list[int] = field(default_factory=list)  # every event id applied, in order (for checks)

    def ordered(self) -> list[Message]:
        return [self.messages[i] for i in sorted(self.messages)]

    @property
    def oldest(self) -> int | None:
        return min(self.messages) if self.messages else None

    def join_history(self, last_id: int, frame: dict[str, Any]) -> set[int]:
        """A fresh join's history (the newest messages as they are): replaces what we had. ``last_id``
        is the hello's: the live events that follow are those after it. Returns the ids shown."""
        self.messages = {m.id: m for m in map(Message.from_frame, frame.get("messages", []))}
        self.older = bool(frame.get("has_more"))
        self.cursor = last_id
        return set(self.messages)

    def page(self, frame: dict[str, Any]) -> set[int]:
        """An older page (answer to a ``before`` request): its messages as they are now replace our
        copies of them; events after it apply as usual. Returns the ids it changed."""
        got = [Message.from_frame(m) for m in frame.get("messages", [])]
        before = self.oldest
        if before is None or not got or got[0].id < before:
            self.older = bool(frame.get("has_more"))
        for message in got:
            self.messages[message.id] = message
        return {m.id for m in got}

    def apply(self, event: dict[str, Any]) -> int | None:
        """One room event (live, or from a resume's history). Returns the id of the message it
        changed (or made), None when it changed nothing (seen already, or about a message older
        than what we hold: its page will bring it as it is)."""
        kind = event.get("type")
        event_id = event.get("id")
        if kind not in ROOM_EVENTS or not isinstance(event_id, int):
            return None
        if self.cursor is not None and event_id <= self.cursor:
            return None  # seen already: never applied twice
        self.cursor = event_id
        self.applied.append(event_id)
        if kind == "message":
            message = Message.from_frame(event)
            self.messages[message.id] = message
            parent = self.messages.get(message.reply_to) if message.reply_to is not None else None
            if parent is not None:
                parent.replies += 1
            return message.id
        target = self.messages.get(int(event.get("target", 0)))
        if target is None:
            return None
        if kind == "edit":
            target.text = str(event.get("message", ""))
            target.edited = True
            if isinstance(event.get("attachments"), list):  # the message's uploads as they are after it
                target.attachments = [a for a in event["attachments"] if isinstance(a, dict)]
        elif kind == "delete":
            target.deleted = True
            target.text = ""
            target.reactions = {}
            target.attachments = []
        else:
            names = target.reactions.setdefault(str(event.get("emoji", "")), [])
            sender = str(event.get("sender", ""))
            if event.get("op") == "remove":
                if sender in names:
                    names.remove(sender)
                if not names:
                    target.reactions.pop(str(event.get("emoji", "")), None)
            elif sender not in names:
                names.append(sender)
        return target.id

    def last_of(self, username: str) -> Message | None:
        """``username``'s newest message that is not deleted (what "edit your last message" edits)."""
        for message in reversed(self.ordered()):
            if message.sender == username and not message.deleted:
                return message
        return None
