"""What travels on the bus between processes: typed events, encoded and decoded here only.

Each event is one bytes payload (a Redis PUBLISH, or a direct call in one process). Its first byte
is its kind; the frame it carries is the JSON text clients receive, encoded once by the sender:

- ``m<seq>\\n<frame>``: a room event that posts a message (every door gets these);
- ``e<seq>\\n<frame>``: a room event of another kind (edit, delete, reaction: the native door only);
- ``t<origin>\\n<frame>``: someone is typing (not for the connection ``origin``);
- ``p``: the room's presence list changed;
- ``u<room>\\n<origin>\\n<frame>``: for one user's connections (a mention, a read cursor), sent on
  that user's channel; ``room`` (a room key) limits it to connections to that room and ``origin``
  leaves out one connection; either may be empty.
- ``c<json>``: a namespace changed (``Removal``, ``PolicyChanged``), on the control channel
  (``CONTROL``) that every process listens to: rare, so JSON.
"""

from __future__ import annotations

import dataclasses

import orjson

# The key of the channel every process subscribes to (namespace changes, moderation).
CONTROL = "control"


@dataclasses.dataclass(frozen=True, slots=True)
class RoomEvent:
    seq: int
    text: str
    message: bool  # posts a message (the seed and tutorial doors get only these)


@dataclasses.dataclass(frozen=True, slots=True)
class Typing:
    origin: str
    text: str


@dataclasses.dataclass(frozen=True, slots=True)
class PresenceChanged:
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class UserEvent:
    text: str
    room: str = ""  # a room key: only connections to that room ("" for all)
    origin: str = ""  # not this connection ("" for none)


@dataclasses.dataclass(frozen=True, slots=True)
class Removal:
    """Close (4410) the matching connections in namespace ``namespace``: those of account
    ``user_id`` (or of the guest called ``guest``), in room ``room`` ("" for every room), or only
    in its private rooms (``private_only``: someone who is no longer a member of an open namespace)."""

    namespace: str
    reason: str  # "kicked", "banned", "removed": the close frame's reason
    user_id: int = 0
    guest: str = ""
    room: str = ""
    private_only: bool = False
    note: str = ""  # the moderator's reason, told to the client before the close
    until: str | None = None  # a timed ban's end (ISO 8601 UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class PolicyChanged:
    """A namespace's policy changed: joins after it go by the new one; ``members`` closes
    outsiders' connections (4410)."""

    namespace: str
    visibility: str


ControlEvent = Removal | PolicyChanged
BusEvent = RoomEvent | Typing | PresenceChanged | UserEvent | ControlEvent

PRESENCE = b"p"


def encode(event: BusEvent) -> bytes:
    if isinstance(event, RoomEvent):
        return b"%c%d\n" % (109 if event.message else 101, event.seq) + event.text.encode("utf-8")
    if isinstance(event, Typing):
        return b"t" + event.origin.encode("ascii") + b"\n" + event.text.encode("utf-8")
    if isinstance(event, UserEvent):
        return b"u%s\n%s\n%s" % (event.room.encode("ascii"), event.origin.encode("ascii"), event.text.encode("utf-8"))
    if isinstance(event, Removal | PolicyChanged):
        return b"c" + orjson.dumps({"kind": type(event).__name__, **dataclasses.asdict(event)})
    return PRESENCE


def decode(payload: bytes) -> BusEvent:
    """The event in ``payload``; ValueError for anything else (anything can be published)."""
    kind = payload[:1]
    if kind in (b"m", b"e"):
        end = payload.index(b"\n")
        return RoomEvent(seq=int(payload[1:end]), text=payload[end + 1 :].decode("utf-8"), message=kind == b"m")
    if kind == b"t":
        end = payload.index(b"\n")
        return Typing(origin=payload[1:end].decode("ascii"), text=payload[end + 1 :].decode("utf-8"))
    if kind == b"p" and len(payload) == 1:
        return PresenceChanged()
    if kind == b"u":
        room, origin, text = payload[1:].split(b"\n", 2)
        return UserEvent(text=text.decode("utf-8"), room=room.decode("ascii"), origin=origin.decode("ascii"))
    if kind == b"c":
        try:
            fields = orjson.loads(payload[1:])
            cls = {"Removal": Removal, "PolicyChanged": PolicyChanged}[fields.pop("kind")]
            return cls(**fields)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"bad control event {payload[:40]!r}") from exc
    raise ValueError(f"unknown bus event {payload[:20]!r}")


def user_key(user_id: int) -> str:
    """The bus key of a user's own channel (room keys are ``room.<sha1>``)."""
    return f"user.{user_id}"
