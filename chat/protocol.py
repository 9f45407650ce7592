"""The wire protocol: every frame shape, error code and limit check, in one pure module.

Nothing here touches the database, the network or Django settings; callers pass the limits in.
``docs/protocol.md`` is the prose version of this file.

Server frames are built by the ``*_frame`` functions and turned into text once by ``encode``; a
message frame is encoded once per message and the same text goes to every recipient.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import itertools
import re
import unicodedata
from typing import Any, Literal, NotRequired

import orjson
import regex
from typing_extensions import TypedDict  # pydantic (the API's schema) needs it before Python 3.12

from core import inputs


class ErrorCode(enum.StrEnum):
    INVALID_JSON = "invalid_json"  # the text is not JSON
    INVALID_FRAME = "invalid_frame"  # JSON, but not an object, a binary frame, or a wrong-typed field
    UNKNOWN_TYPE = "unknown_type"  # "type" names no client frame
    EMPTY_MESSAGE = "empty_message"  # empty, or only whitespace and invisible (format) characters
    TOO_LARGE = "too_large"  # message over PARLEY_MAX_MESSAGE_CHARS
    RATE_LIMITED = "rate_limited"  # over PARLEY_RATE_PER_SEC / PARLEY_RATE_BURST
    INVALID_ROOM = "invalid_room"  # the room name in the URL is not a valid name
    INVALID_NAME = "invalid_name"  # a guest display name that is empty, too long or malformed
    FORBIDDEN = "forbidden"  # not allowed: guests off, or a registered user's name taken by a guest
    NOT_FOUND = "not_found"  # no such message in this room (or it is deleted)
    TOO_LATE = "too_late"  # an edit after PARLEY_EDIT_WINDOW seconds
    UNAVAILABLE = "unavailable"  # the store or Redis cannot be reached now: resend (same client_id) later
    UNAUTHENTICATED = "unauthenticated"  # a handshake's Authorization: Bearer token is unknown, revoked or expired
    CONFLICT = "conflict"  # (API) a namespace or room of that name exists, or the last owner would go
    MUTED = "muted"  # the account is muted in this namespace: nothing is stored (the frame has "until")
    INTERNAL = "internal"  # a bug: the server failed to do what was asked (a backend being down is `unavailable`)


class CloseCode(enum.IntEnum):
    INTERNAL_ERROR = 1011  # a bug: the connection ends (and leaves its room); reconnect with ?after=
    POLICY_VIOLATION = 1008  # the client kept sending past its frame budget (PARLEY_FRAME_RATE_PER_SEC)
    MESSAGE_TOO_BIG = 1009  # a frame over PARLEY_MAX_FRAME_BYTES
    # The client fell behind its send queue, or the store cannot be reached at the handshake;
    # resume with ?after= a little later.
    TRY_AGAIN_LATER = 1013
    # Not allowed to join: guests not allowed, banned, or a room or namespace that is private to
    # the caller, or does not exist (the same answer: nothing tells them apart).
    FORBIDDEN = 4403
    REMOVED = 4410  # kicked, banned, or no longer a member: do not reconnect automatically
    INVALID_ROOM = 4400  # the room name in the URL is invalid
    UNAUTHENTICATED = 4401  # the handshake's Bearer token is unknown, revoked or expired


class ProtocolError(Exception):
    """A client frame that cannot be accepted; ``code`` is an ErrorCode, sent in an error frame."""

    def __init__(
        self,
        code: ErrorCode,
        detail: str,
        *,
        until: str | None = None,
        retry_after: float | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.until = until  # muted: when the mute ends (ISO 8601 UTC), None for until lifted
        self.retry_after = retry_after  # rate_limited: seconds until it may be tried again (HTTP Retry-After)
        self.reason = reason  # a finer reason a client may act on (NAME_TAKEN), sent as the frame's "reason"
        self.client_id: str | None = None  # a refused message frame's own client_id (parse_native)


# Finer reasons some refusals carry beside their code (the error frame's and API error's "reason").
NAME_TAKEN = "name_taken"  # forbidden: a guest's name is (now) a registered user's


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    max_message_chars: int = 4000
    max_name_chars: int = 32
    history_page_max: int = 100


# --- Client frames --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class SendMessage:
    message: str
    client_id: str | None = None
    sender: str | None = None  # a guest's display name; ignored for a logged-in user
    reply_to: int | None = None  # a message of the same room
    attachments: tuple[int, ...] = ()  # the ids of the sender's uploads to this room (MAX_ATTACHMENTS)


@dataclasses.dataclass(frozen=True, slots=True)
class Edit:
    target: int
    message: str
    attachments: tuple[int, ...] | None = None  # None: as they are


@dataclasses.dataclass(frozen=True, slots=True)
class Delete:
    target: int


@dataclasses.dataclass(frozen=True, slots=True)
class React:
    target: int
    emoji: str
    add: bool  # "op": "add" (True) or "remove" (False)


@dataclasses.dataclass(frozen=True, slots=True)
class Read:
    up_to: int


@dataclasses.dataclass(frozen=True, slots=True)
class ThreadRequest:
    target: int


@dataclasses.dataclass(frozen=True, slots=True)
class HistoryRequest:
    before: int | None  # None: the newest page
    limit: int
    around: int | None = None  # the page around this id (half before, half after); ``before`` unused


@dataclasses.dataclass(frozen=True, slots=True)
class Typing:
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class Ping:
    pass


ClientFrame = SendMessage | HistoryRequest | Typing | Ping | Edit | Delete | React | Read | ThreadRequest

MAX_CLIENT_ID_CHARS = 64  # room for a UUID or a ULID with a prefix; the column is 64 wide
MAX_ATTACHMENTS = 10  # uploads one message may carry
# Ids are 64-bit signed integers in the store: a larger number names no message (and SQLite
# cannot even compare with it), so it is refused like any other bad field.
MAX_ID = 2**63 - 1


# The error code of a field that holds what it may not (``core.inputs``): names of rooms and
# namespaces are invalid_room, names of people invalid_name, anything else invalid_frame.
FIELD_CODES = {
    "room": ErrorCode.INVALID_ROOM,
    "ns": ErrorCode.INVALID_ROOM,
    "ns_name": ErrorCode.INVALID_ROOM,
    "username": ErrorCode.INVALID_NAME,
    "name": ErrorCode.INVALID_NAME,
    "sender": ErrorCode.INVALID_NAME,
    "guest": ErrorCode.INVALID_NAME,
    "dm": ErrorCode.INVALID_NAME,
}


def field_error(bad: inputs.BadInput) -> ProtocolError:
    """The refusal of a string ``core.inputs`` refused, with its field's error code."""
    return ProtocolError(FIELD_CODES.get(bad.field, ErrorCode.INVALID_FRAME), bad.detail)


def load_object(text: str) -> dict[str, Any]:
    """Parse a text frame into a JSON object whose strings ``core.inputs`` accepts, or raise
    invalid_json / invalid_frame (naming the field that holds a NUL or a lone surrogate)."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        data = _refused_json(text)
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.INVALID_FRAME, "frame must be a JSON object")
    try:
        inputs.check_json(data, "frame")
    except inputs.BadInput as bad:
        raise field_error(bad) from None
    return data


def _refused_json(text: str) -> Any:
    """orjson refuses a lone surrogate's escape as it refuses bad JSON; a lenient parse tells which
    it was, so that the error names the field."""
    try:
        data = inputs.parse_lenient(text)
    except ValueError:
        raise ProtocolError(ErrorCode.INVALID_JSON, "frame is not valid JSON") from None
    try:
        inputs.check_json(data, "frame")
    except inputs.BadInput as bad:
        raise field_error(bad) from None
    raise ProtocolError(ErrorCode.INVALID_JSON, "frame is not valid JSON")


def parse_native(text: str, limits: Limits) -> ClientFrame:
    """Parse a frame of the native door (/ws/rooms/<name>/)."""
    data = load_object(text)
    kind = data.get("type", "message")
    if kind == "message":
        client_id = _check_client_id(data.get("client_id"))
        try:
            attachments = check_attachments(data.get("attachments")) or ()
            return SendMessage(
                message=check_message(data.get("message"), limits, empty_ok=bool(attachments)),
                client_id=client_id,
                sender=_optional_str(data, "sender"),
                reply_to=_optional_int(data, "reply_to", minimum=1),
                attachments=attachments,
            )
        except ProtocolError as error:
            error.client_id = client_id  # the client knows which of its messages was refused
            raise
    if kind == "history":
        return HistoryRequest(
            before=_optional_int(data, "before", minimum=1),
            limit=min(_optional_int(data, "limit", minimum=1) or limits.history_page_max, limits.history_page_max),
            around=_optional_int(data, "around", minimum=1),  # with it, ``before`` is unused
        )
    if kind == "typing":
        return Typing()
    if kind == "ping":
        return Ping()
    if kind == "edit":
        changed = check_attachments(data.get("attachments"))
        message = check_message(data.get("message"), limits, empty_ok=bool(changed))
        return Edit(target=_target(data), message=message, attachments=changed)
    if kind == "delete":
        return Delete(target=_target(data))
    if kind == "reaction":
        op = data.get("op")
        if op not in ("add", "remove"):
            raise ProtocolError(ErrorCode.INVALID_FRAME, '\'op\' must be "add" or "remove"')
        return React(target=_target(data), emoji=check_emoji(data.get("emoji")), add=op == "add")
    if kind == "read":
        up_to = _optional_int(data, "up_to", minimum=0)
        if up_to is None:
            raise ProtocolError(ErrorCode.INVALID_FRAME, f"'up_to' must be an integer from 0 to {MAX_ID}")
        return Read(up_to=up_to)
    if kind == "thread":
        return ThreadRequest(target=_target(data))
    if not isinstance(kind, str):
        raise ProtocolError(ErrorCode.INVALID_FRAME, "'type' must be a string")
    raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown frame type {kind[:40]!r}")


def parse_seed(text: str, limits: Limits) -> SendMessage:
    """Parse a frame of the seed door (/chat/<name>): ``{"sender", "message"}``."""
    data = load_object(text)
    return SendMessage(message=check_message(data.get("message"), limits), sender=_optional_str(data, "sender"))


def parse_tutorial(text: str, limits: Limits) -> SendMessage:
    """Parse a frame of the Channels tutorial door (/ws/chat/<name>/): ``{"message"}``."""
    data = load_object(text)
    return SendMessage(message=check_message(data.get("message"), limits))


def _invisible() -> str:
    """Characters that show nothing: whitespace, format characters (Cf: zero-width spaces and
    joiners, word joiner, BOM, bidi controls, tags) and a few blank letters and marks (Hangul
    fillers, combining grapheme joiner, variation selectors, Braille blank). Cf and whitespace live
    in planes 0, 1 and 14 only."""
    planes = itertools.chain(range(0x20000), range(0xE0000, 0xE1000))
    found = "".join(ch for ch in map(chr, planes) if ch.isspace() or unicodedata.category(ch) == "Cf")
    blank = "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u2800\u3164\uffa0"
    variation = "".join(map(chr, itertools.chain(range(0xFE00, 0xFE10), range(0xE0100, 0xE01F0))))
    return found + blank + variation


_INVISIBLE = frozenset(_invisible())
_VISIBLE = re.compile("[^" + re.escape("".join(sorted(_INVISIBLE))) + "]")


def check_message(value: Any, limits: Limits, *, empty_ok: bool = False) -> str:
    """A message's text, else invalid_frame / empty_message / too_large. ``empty_ok``: a message
    with attachments may have no text (a missing ``message`` is then "")."""
    if value is None and empty_ok:
        return ""
    if not isinstance(value, str):
        raise ProtocolError(ErrorCode.INVALID_FRAME, "'message' must be a string")
    # Empty, or nothing but invisible characters. Fast path: a visible first character.
    if not value or (value[0] in _INVISIBLE and _VISIBLE.search(value) is None):
        if empty_ok:
            return ""
        raise ProtocolError(ErrorCode.EMPTY_MESSAGE, "message is empty")
    if len(value) > limits.max_message_chars:
        raise ProtocolError(
            ErrorCode.TOO_LARGE, f"message is {len(value)} characters, the limit is {limits.max_message_chars}"
        )
    return value


def check_attachments(value: Any) -> tuple[int, ...] | None:
    """``attachments``: a list of at most MAX_ATTACHMENTS upload ids (no repeats), else
    invalid_frame; None when absent."""
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) > MAX_ATTACHMENTS
        or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_ID for v in value)
        or len(set(value)) != len(value)
    ):
        raise ProtocolError(
            ErrorCode.INVALID_FRAME, f"'attachments' must be a list of at most {MAX_ATTACHMENTS} upload ids"
        )
    return tuple(value)


def _check_client_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not (1 <= len(value) <= MAX_CLIENT_ID_CHARS) or has_control(value):
        raise ProtocolError(
            ErrorCode.INVALID_FRAME,
            f"'client_id' must be a string of 1 to {MAX_CLIENT_ID_CHARS} characters, without control characters",
        )
    return value


# Control characters (C0, DEL, C1) and the UTF-16 surrogates: nothing a name, a client_id or a key
# needs, and NUL is what PostgreSQL refuses to store.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def _target(data: dict[str, Any]) -> int:
    target = _optional_int(data, "target", minimum=1)
    if target is None:
        raise ProtocolError(ErrorCode.INVALID_FRAME, f"'target' must be a message id (1 to {MAX_ID})")
    return target


# One grapheme cluster (what a reader sees as one character) that holds an emoji: a pictograph, a
# flag (two regional indicators), a keycap, or a character shown as an emoji by default.
_GRAPHEME = regex.compile(r"\X")
_EMOJI = regex.compile(r"\p{Extended_Pictographic}|\p{Regional_Indicator}|\u20e3|\p{Emoji_Presentation}")
MAX_EMOJI_CHARS = 32  # the longest emoji sequences (families, flags of regions) are under 15


def check_emoji(value: Any) -> str:
    """One emoji (a single grapheme cluster containing an emoji), else invalid_frame."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= MAX_EMOJI_CHARS
        or has_control(value)
        or len(_GRAPHEME.findall(value)) != 1
        or _EMOJI.search(value) is None
    ):
        raise ProtocolError(ErrorCode.INVALID_FRAME, "'emoji' must be one emoji")
    return value


def _optional_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ProtocolError(ErrorCode.INVALID_FRAME, f"'{key}' must be a string")


def _optional_int(data: dict[str, Any], key: str, *, minimum: int) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    # JSON has numbers, not integers: 5.0 is the integer 5 (as JSON Schema's "integer" says).
    if isinstance(value, float) and value.is_integer() and minimum <= value <= MAX_ID:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_ID:
        raise ProtocolError(ErrorCode.INVALID_FRAME, f"'{key}' must be an integer from {minimum} to {MAX_ID}")
    return value


def parse_after(raw: str) -> int:
    """A ``?after=`` query value: a message id (ASCII digits, at most MAX_ID), else invalid_frame."""
    # Length first: int() of thousands of digits is slow, and over 4,300 digits Python refuses it.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(MAX_ID)) or int(raw) > MAX_ID:
        raise ProtocolError(ErrorCode.INVALID_FRAME, "'after' must be a message id (an integer >= 0)")
    return int(raw)


# --- Names ----------------------------------------------------------------------------------------

ROOM_NAME_MAX = 64
_ROOM_PUNCTUATION = frozenset("-_.")


def check_room_name(raw: Any) -> str:
    """Return the NFC form of a room name, or raise invalid_room.

    1 to 64 characters, each a Unicode letter (L*), a decimal digit (Nd), '-', '_' or '.'; a name of
    dots only is refused because '.' and '..' are path segments in a URL.
    """
    if not isinstance(raw, str):
        raise ProtocolError(ErrorCode.INVALID_ROOM, "room name must be a string")
    name = unicodedata.normalize("NFC", raw)
    if not 1 <= len(name) <= ROOM_NAME_MAX:
        raise ProtocolError(ErrorCode.INVALID_ROOM, f"room name must be 1 to {ROOM_NAME_MAX} characters")
    for ch in name:
        if ch not in _ROOM_PUNCTUATION and unicodedata.category(ch) not in _ROOM_CATEGORIES:
            raise ProtocolError(
                ErrorCode.INVALID_ROOM, f"room name may hold letters, digits, '-', '_' and '.', not {ch!r}"
            )
    if set(name) == {"."}:
        raise ProtocolError(ErrorCode.INVALID_ROOM, "room name cannot be only dots")
    return name


_ROOM_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nd"})


def check_display_name(raw: Any, limits: Limits) -> str:
    """Return a guest's display name, stripped and NFC-normalised, or raise invalid_name."""
    if not isinstance(raw, str):
        raise ProtocolError(ErrorCode.INVALID_NAME, "name must be a string")
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    if not 1 <= len(name) <= limits.max_name_chars:
        raise ProtocolError(ErrorCode.INVALID_NAME, f"name must be 1 to {limits.max_name_chars} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in name):
        raise ProtocolError(ErrorCode.INVALID_NAME, "name holds control or unassigned characters")
    return name


PUBLIC = "public"  # the default namespace: every URL without a namespace addresses its rooms


def room_address(namespace: str, room: str) -> str:
    """A room's name across the system (the hub, the bus, Redis keys): its name in ``public`` (so
    keys are what they were before namespaces), ``<namespace>/<room>`` elsewhere ('/' is in no
    room or namespace name, so addresses never collide)."""
    return room if namespace == PUBLIC else f"{namespace}/{room}"


def room_key(name: str) -> str:
    """A short ASCII key for a room, safe as a Channels group name and a Redis key.

    Channels group names allow only ASCII letters, digits, '-', '_' and '.', under 100 characters,
    so a Korean room name cannot be used as it is; a hash of its UTF-8 bytes is stable across
    processes and machines, and 160 bits make a collision a non-event.
    """
    return "room." + hashlib.sha1(name.encode("utf-8")).hexdigest()


# --- Server frames --------------------------------------------------------------------------------


class Identity(TypedDict):
    name: str
    guest: bool


class Attachment(TypedDict):
    """An upload, as a message carries it (``uploads.models.Upload.out``)."""

    id: int
    name: str
    size: int
    content_type: str
    url: str
    width: int | None
    height: int | None
    thumbnail_url: str | None


class MessageFrame(TypedDict):
    type: Literal["message"]
    id: int
    room: str
    sender: str
    message: str
    ts: str
    client_id: str | None
    reply_to: int | None
    mentions: list[str]
    # Last, in this order: the seed and tutorial doors get the frame without them (``plain``).
    html: str  # ``message`` as sanitized HTML (markup.render)
    attachments: list[Attachment]
    bot: bool  # sent by a bot account or a webhook (bots/, hooks/); people's false


class MessageState(MessageFrame):
    """A message as it is now (history pages, threads): the message frame plus its state."""

    edited: bool
    deleted: bool
    reactions: dict[str, list[str]]
    replies: int


class EditFrame(TypedDict):
    type: Literal["edit"]
    id: int
    room: str
    target: int
    message: str
    sender: str
    ts: str
    html: str
    attachments: list[Attachment]


class DeleteFrame(TypedDict):
    type: Literal["delete"]
    id: int
    room: str
    target: int
    by: str
    ts: str


class ReactionFrame(TypedDict):
    type: Literal["reaction"]
    id: int
    room: str
    target: int
    emoji: str
    sender: str
    op: Literal["add", "remove"]
    ts: str


EventFrame = MessageFrame | EditFrame | DeleteFrame | ReactionFrame


class Muted(TypedDict):
    until: str | None  # ISO 8601 UTC; None: until lifted


class HelloFrame(TypedDict):
    type: Literal["hello"]
    room: str
    namespace: str
    you: Identity
    last_id: int
    read_up_to: int | None
    limits: dict[str, Any]
    muted: Muted | None  # the account is muted in the namespace (its messages are refused), or None


class RemovedFrame(TypedDict):
    """Sent just before the 4410 close: why, in the moderator's words, and a timed ban's end."""

    type: Literal["removed"]
    reason: str  # kicked | banned | removed (the close's reason)
    note: str  # the moderator's reason ("" if none was given)
    until: str | None  # banned: when the ban ends (ISO 8601 UTC); None: until lifted, or not a ban


class HistoryFrame(TypedDict):
    type: Literal["history"]
    # Messages as they are now (a join, a page of older messages), or the events of a resume,
    # already encoded (orjson.Fragment: the stored text goes out as it is).
    messages: list[MessageState] | list[orjson.Fragment]
    has_more: bool
    # Only in the answer to a request with ``around``: whether newer messages than the page's exist.
    has_newer: NotRequired[bool]


class ThreadFrame(TypedDict):
    type: Literal["thread"]
    target: int
    messages: list[MessageState]


class ReadFrame(TypedDict):
    type: Literal["read"]
    room: str
    up_to: int


class MentionFrame(TypedDict):
    type: Literal["mention"]
    room: str
    id: int
    sender: str
    message: str
    url: str  # the message on its room's page (``/rooms/<room>/#m<id>``...)
    notify: bool  # false: the reader chose to hear nothing of the room (a badge, no notification)


class DirectFrame(TypedDict):
    """A direct message to the reader, on every connection of theirs (their user channel)."""

    type: Literal["dm"]
    id: int
    sender: str
    message: str
    url: str  # ``/dm/<sender>/#m<id>``
    notify: bool


class PresenceFrame(TypedDict):
    type: Literal["presence"]
    users: list[str]
    bots: list[str]  # those of ``users`` that are bots (bots/, hooks/)


class TypingFrame(TypedDict):
    type: Literal["typing"]
    sender: str


class ErrorFrame(TypedDict, total=False):
    type: Literal["error"]
    code: str
    detail: str
    client_id: str | None
    until: str | None  # muted only
    reason: str  # some refusals only: NAME_TAKEN


def format_ts(when: dt.datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a 'Z': 2026-11-25T06:40:00.123Z."""
    return when.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def message_frame(
    *,
    seq: int,
    room: str,
    sender: str,
    message: str,
    created_at: dt.datetime,
    client_id: str | None,
    reply_to: int | None = None,
    mentions: list[str] | None = None,
    html: str = "",
    attachments: list[Attachment] | None = None,
    bot: bool = False,
) -> MessageFrame:
    return {
        "type": "message",
        "id": seq,
        "room": room,
        "sender": sender,
        "message": message,
        "ts": format_ts(created_at),
        "client_id": client_id,
        "reply_to": reply_to,
        "mentions": mentions or [],
        "html": html,
        "attachments": attachments or [],
        "bot": bot,
    }


def edit_frame(
    *,
    seq: int,
    room: str,
    target: int,
    message: str,
    sender: str,
    when: dt.datetime,
    html: str = "",
    attachments: list[Attachment] | None = None,
) -> EditFrame:
    return {
        "type": "edit",
        "id": seq,
        "room": room,
        "target": target,
        "message": message,
        "sender": sender,
        "ts": format_ts(when),
        "html": html,
        "attachments": attachments or [],
    }


_RICH = ',"html":'


def plain(text: str) -> str:
    """An encoded message frame as the seed and tutorial doors get it: without ``html`` and
    ``attachments`` (its last fields; a quote inside a string is escaped, so ``,"html":`` is the
    key). Any other frame as it is."""
    at = text.find(_RICH)
    return text if at < 0 else text[:at] + "}"


def delete_frame(*, seq: int, room: str, target: int, by: str, when: dt.datetime) -> DeleteFrame:
    return {"type": "delete", "id": seq, "room": room, "target": target, "by": by, "ts": format_ts(when)}


def reaction_frame(
    *, seq: int, room: str, target: int, emoji: str, sender: str, add: bool, when: dt.datetime
) -> ReactionFrame:
    return {
        "type": "reaction",
        "id": seq,
        "room": room,
        "target": target,
        "emoji": emoji,
        "sender": sender,
        "op": "add" if add else "remove",
        "ts": format_ts(when),
    }


def hello_frame(
    *,
    room: str,
    namespace: str = "public",
    name: str,
    guest: bool,
    last_id: int,
    read_up_to: int | None,
    limits: dict[str, Any],
    muted: Muted | None = None,
) -> HelloFrame:
    return {
        "type": "hello",
        "room": room,
        "namespace": namespace,
        "you": {"name": name, "guest": guest},
        "last_id": last_id,
        "read_up_to": read_up_to,
        "limits": limits,
        "muted": muted,
    }


def removed_frame(*, reason: str, note: str = "", until: str | None = None) -> RemovedFrame:
    return {"type": "removed", "reason": reason, "note": note, "until": until}


def history_frame(
    messages: list[MessageState] | list[orjson.Fragment], *, has_more: bool, has_newer: bool | None = None
) -> HistoryFrame:
    frame: HistoryFrame = {"type": "history", "messages": messages, "has_more": has_more}
    if has_newer is not None:
        frame["has_newer"] = has_newer
    return frame


def thread_frame(target: int, messages: list[MessageState]) -> ThreadFrame:
    return {"type": "thread", "target": target, "messages": messages}


def read_frame(room: str, up_to: int) -> ReadFrame:
    return {"type": "read", "room": room, "up_to": up_to}


def mention_frame(*, room: str, seq: int, sender: str, message: str, url: str, notify: bool = True) -> MentionFrame:
    return {
        "type": "mention",
        "room": room,
        "id": seq,
        "sender": sender,
        "message": message,
        "url": url,
        "notify": notify,
    }


def direct_frame(*, seq: int, sender: str, message: str, url: str, notify: bool = True) -> DirectFrame:
    return {"type": "dm", "id": seq, "sender": sender, "message": message, "url": url, "notify": notify}


# A bot's entry in a room's presence list (``broadcast.Hub``, ``pubsub``) is its name and this
# mark: no name can hold a NUL (``core.inputs`` refuses it everywhere), so no one passes for a bot.
BOT_MARK = "\x00bot"


def presence_entry(name: str, *, bot: bool) -> str:
    """The entry of ``name`` in a presence list (marked when it is a bot's)."""
    return name + BOT_MARK if bot else name


def presence_name(entry: str) -> str:
    """The name of a presence list's entry."""
    return entry.removesuffix(BOT_MARK)


def presence_frame(entries: list[str]) -> PresenceFrame:
    """The presence frame of a list of entries (``presence_entry``): every name in ``users``, the
    bots' again in ``bots``."""
    return {
        "type": "presence",
        "users": [presence_name(e) for e in entries],
        "bots": [presence_name(e) for e in entries if e.endswith(BOT_MARK)],
    }


# "X is typing" is a hint, not data: one typing event per connection (over HTTP: per user and room)
# per second is plenty, and extra ones are dropped without an error.
TYPING_MIN_INTERVAL = 1.0


def typing_frame(sender: str) -> TypingFrame:
    return {"type": "typing", "sender": sender}


def error_frame(
    code: ErrorCode,
    detail: str,
    *,
    client_id: str | None = None,
    until: str | None = None,
    reason: str | None = None,
) -> ErrorFrame:
    frame: ErrorFrame = {"type": "error", "code": code.value, "detail": detail}
    if client_id is not None:
        frame["client_id"] = client_id
    if code is ErrorCode.MUTED:
        frame["until"] = until
    if reason is not None:
        frame["reason"] = reason
    return frame


def refusal_frame(error: ProtocolError, *, client_id: str | None = None) -> ErrorFrame:
    """The error frame for a refusal (a mute's carries its end; some carry a ``reason``)."""
    return error_frame(error.code, error.detail, client_id=client_id, until=error.until, reason=error.reason)


# --- Mentions -------------------------------------------------------------------------------------

# "@name": a name runs to the next white space; trailing punctuation (",", ".", "!", ...) is not part of it.
_MENTION = regex.compile(r"(?<![\w@])@([^\s@]{1,150})")
_TRAILING = ",.;:!?)]}'\"\u201d\u2019\u2026"


def mention_candidates(text: str) -> list[str]:
    """The names written as ``@name`` in ``text``, in order, without repeats (not checked yet)."""
    seen: dict[str, None] = {}
    for raw in _MENTION.findall(text):
        name = raw.rstrip(_TRAILING)
        if name:
            seen.setdefault(name)
    return list(seen)


PONG = '{"type":"pong"}'


def encode(frame: Any) -> str:
    return orjson.dumps(frame).decode("utf-8")
