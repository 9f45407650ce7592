"""The API's bodies, typed: django-ninja builds the OpenAPI schema from these.

Request bodies are strict (a string is a string, an integer an integer: no coercion, as the
WebSocket frames; an integral number such as ``5.0`` is the integer 5, as JSON Schema says); what
they hold is then checked by the same functions as the frames (``chat.protocol``). Responses
mirror the WebSocket frames field for field.

The string types below (``RoomName``, ``Username``, ``MessageText``, ``Emoji``) say in the schema
what the server enforces: ``x-pattern`` names a pattern of ``api.patterns``, which ``api.openapi``
puts in the schema when it is first asked for. They validate nothing themselves: the server's
checks stay where they are, with their own error codes (``invalid_room``, ``empty_message``...).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from annotated_types import Ge, Le
from django.conf import settings
from ninja import Schema
from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic.config import JsonDict

from chat import protocol
from chat.namespaces import POLICY_BOUNDS
from chat.protocol import MAX_CLIENT_ID_CHARS, MAX_ID

# The longest message text any namespace may allow (its max_message_chars' upper bound).
MAX_MESSAGE_CHARS = max(settings.PARLEY_MAX_MESSAGE_CHARS, int(POLICY_BOUNDS["max_message_chars"][1]))


def _integral(value: Any) -> Any:
    """5.0 is the integer 5 (JSON has numbers; JSON Schema's "integer" is any number without a
    fraction); 5.5 stays a float and is refused as not an integer."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_ID:
        return int(value)
    return value


Integral = BeforeValidator(_integral)


RoomName = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "x-pattern": "room_name",
            "minLength": 1,
            "maxLength": protocol.ROOM_NAME_MAX,
            "description": "a room's or a namespace's name: 1 to 64 letters (any script), digits, '-', '_' and "
            "'.', not only dots; compared in NFC. Another name: 400 invalid_room (a namespace: 404)",
        }
    ),
]
Username = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "x-pattern": "username",
            "minLength": 1,
            "maxLength": 150,
            "description": "a username: 1 to 150 letters, digits, '_', '.', '@', '+' and '-'",
        }
    ),
]
DisplayName = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "x-pattern": "display_name",
            "minLength": 1,
            "maxLength": settings.PARLEY_MAX_NAME_CHARS,
            "description": "a name as people see it: 1 to PARLEY_MAX_NAME_CHARS characters, at least one not white "
            "space, no control, format, private-use or unassigned character (else 400 invalid_name)",
        }
    ),
]
MessageText = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "x-pattern": "message",
            "minLength": 1,
            "maxLength": MAX_MESSAGE_CHARS,
            "description": "the text: at least one visible character (else 400 empty_message), at most the "
            "namespace's max_message_chars characters (GET /ns/{ns}; by default PARLEY_MAX_MESSAGE_CHARS; "
            "more: 413 too_large). The maxLength here is the most any namespace may allow.",
        }
    ),
]
Emoji = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "x-pattern": "emoji",
            "minLength": 1,
            "maxLength": protocol.MAX_EMOJI_CHARS,
            "description": "one emoji: a pictograph (with a skin tone, or several joined by ZWJ), a flag, a keycap",
        }
    ),
]

MAX_TOKEN_NAME_CHARS = 100
MAX_EXPIRES_IN = 10 * 366 * 24 * 3600  # ten years, in seconds


class Body(Schema):
    """A request body: strict types, and no field the schema does not name (400 invalid_frame)."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Error(Schema):
    code: str = Field(description="what went wrong, one of the codes of docs/api.md")
    detail: str = Field(description="the same in words, for a person (English)")
    until: str | None = Field(
        default=None, description="muted (and a timed ban): when it ends, ISO 8601 UTC; null: until lifted"
    )


class ErrorOut(Schema):
    error: Error


# --- Tokens ------------------------------------------------------------------------------------


class TokenRequest(Body):
    username: str = Field(max_length=150)
    password: str = Field(max_length=4096)
    name: str = Field(min_length=1, max_length=MAX_TOKEN_NAME_CHARS)
    expires_in: Annotated[int, Ge(1), Le(MAX_EXPIRES_IN), Integral] | None = Field(
        None, description="seconds; null: never"
    )


class TokenOut(Schema):
    id: int
    name: str
    created: str
    expires: str | None
    last_used: str | None


class TokenCreated(TokenOut):
    token: str = Field(description="the secret, shown this once")


class TokensOut(Schema):
    tokens: list[TokenOut]


class MeOut(Schema):
    username: str
    guest: bool


# --- Rooms and messages -------------------------------------------------------------------------


class RoomOut(Schema):
    name: str
    last_id: int
    last_activity: str
    online: int
    unread: int


class RoomsOut(Schema):
    rooms: list[RoomOut]


# The frames are the WebSocket's, typed once in chat.protocol.
MessageFrame = protocol.MessageFrame
MessageState = protocol.MessageState


class MessagesPage(Schema):
    messages: list[MessageState]
    has_more: bool
    has_newer: bool | None = Field(default=None, description="with `around` only: newer messages exist beyond the page")


class EventsPage(Schema):
    events: list[protocol.EventFrame]
    has_more: bool


class Thread(Schema):
    target: int
    messages: list[MessageState]


# A message with attachments needs no text: ``message`` is then "" or left out. (As if/then, not
# anyOf: a generated client keeps one model for the body.)
_TEXT_OR_ATTACHMENTS: JsonDict = {
    "if": {"not": {"required": ["attachments"], "properties": {"attachments": {"type": "array", "minItems": 1}}}},
    "then": {"required": ["message"], "properties": {"message": {"minLength": 1}}},
}


class PostMessage(Body):
    """Text, attachments, or both."""

    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra=_TEXT_OR_ATTACHMENTS)

    message: MessageText | Literal[""] = ""
    client_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CLIENT_ID_CHARS,
        description="yours, unique per message: a retry with the same one stores nothing twice",
    )
    reply_to: Annotated[int, Ge(1), Le(MAX_ID), Integral] | None = Field(None, description="a message of this room")
    attachments: list[Annotated[int, Ge(1), Le(MAX_ID), Integral]] = Field(
        default_factory=list,
        max_length=protocol.MAX_ATTACHMENTS,
        description="ids of your uploads to this room that no message uses yet (POST .../uploads)",
        json_schema_extra={"uniqueItems": True},
    )


class EditMessage(Body):
    """The new text (it may be "" when the message keeps or gets attachments), and the message's
    uploads if they change."""

    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra=_TEXT_OR_ATTACHMENTS)

    message: MessageText | Literal[""] = ""
    attachments: list[Annotated[int, Ge(1), Le(MAX_ID), Integral]] | None = Field(
        None,
        max_length=protocol.MAX_ATTACHMENTS,
        description="the message's uploads now; null: as they are",
        json_schema_extra={"uniqueItems": True},
    )


class Preview(Body):
    message: MessageText


class PreviewOut(Schema):
    html: str = Field(description="the text as sanitized HTML, as a message's `html`")


class ReactionRequest(Body):
    emoji: Emoji
    op: Literal["add", "remove"]


class ReadRequest(Body):
    up_to: Annotated[int, Ge(0), Le(MAX_ID), Integral]


class ReadOut(Schema):
    up_to: int


# --- Namespaces ----------------------------------------------------------------------------------

Visibility = Literal["open", "members"]
Creation = Literal["members", "moderators"]
RoleName = Literal["owner", "moderator", "member"]
MAX_USERNAME_CHARS = 150
MAX_REASON_CHARS = 500
MAX_SANCTION_SECONDS = 10 * 366 * 24 * 3600


def _low(key: str) -> Ge:
    return Ge(POLICY_BOUNDS[key][0])


def _high(key: str) -> Le:
    return Le(POLICY_BOUNDS[key][1])


def _override(description: str) -> Any:
    return Field(None, description=description + "; null: the server's setting")


def _not_null(description: str) -> Any:
    """An optional field that may not be null (absent: unchanged)."""
    return Field(default=None, description=description, json_schema_extra=_no_default)


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class NamespaceOut(Schema):
    name: str
    visibility: Visibility
    allow_guests: bool
    room_creation: Creation
    uploads: bool
    max_message_chars: int
    rate_per_sec: float
    rate_burst: int
    edit_window: float
    history_on_join: int
    retention_days: int
    role: RoleName | None = Field(description="the caller's role; null: not a member")


class NamespacesOut(Schema):
    namespaces: list[NamespaceOut]


class NamespaceCreate(Body):
    name: RoomName
    visibility: Visibility = "open"
    allow_guests: bool = True
    room_creation: Creation = "members"


class PolicyPatch(Body):
    """Any policy fields; the others stay as they are."""

    model_config = ConfigDict(strict=True, extra="forbid")

    visibility: Visibility = _not_null("who may see it")
    allow_guests: bool = _not_null("whether guests (no account) may chat")
    room_creation: Creation = _not_null("who may create rooms")
    uploads: bool = _not_null("whether members may share files")
    max_message_chars: Annotated[int, _low("max_message_chars"), _high("max_message_chars"), Integral] | None = (
        _override("longest message, characters")
    )
    rate_per_sec: Annotated[float, _low("rate_per_sec"), _high("rate_per_sec")] | None = _override(
        "messages per second per connection"
    )
    rate_burst: Annotated[int, _low("rate_burst"), _high("rate_burst"), Integral] | None = _override(
        "how many of those at once"
    )
    edit_window: Annotated[float, _low("edit_window"), _high("edit_window")] | None = _override(
        "seconds an author may edit; 0: no limit"
    )
    history_on_join: Annotated[int, _low("history_on_join"), _high("history_on_join"), Integral] | None = _override(
        "messages in the history frame on join"
    )
    retention_days: Annotated[int, _low("retention_days"), _high("retention_days"), Integral] | None = _override(
        "days messages are kept; 0: forever"
    )


class MemberOut(Schema):
    username: str
    role: RoleName


class MembersOut(Schema):
    members: list[MemberOut]


class MemberSet(Body):
    username: Username
    role: RoleName = "member"


class InviteCreate(Body):
    expires_in: Annotated[int, Ge(1), Le(MAX_EXPIRES_IN), Integral] | None = Field(
        None, description="seconds; null: never"
    )
    max_uses: Annotated[int, Ge(1), Le(1_000_000), Integral] | None = Field(None, description="null: unlimited")


class InviteOut(Schema):
    code: str
    url: str = Field(description="the join page's path, /ns/<ns>/join/<code>/")


class JoinRequest(Body):
    code: str = Field(min_length=1, max_length=100)


class RoomCreate(Body):
    name: RoomName
    private: bool = False


class RoomCreated(Schema):
    name: str
    private: bool


class UsernameIn(Body):
    username: Username


class UsernameOut(Schema):
    username: str


class KickRequest(Body):
    """Exactly one of ``username`` and ``guest`` (else 400)."""

    model_config = ConfigDict(
        strict=True,
        json_schema_extra={
            "oneOf": [
                {"required": ["username"], "properties": {"username": {"type": "string"}}},
                {"required": ["guest"], "properties": {"guest": {"type": "string"}}},
            ]
        },
    )

    username: Username | None = Field(default=None, description="an account (or give guest)")
    guest: str | None = Field(
        default=None, min_length=1, max_length=100, description="a guest's display name (or give username)"
    )
    reason: str = Field(default="", max_length=MAX_REASON_CHARS)


class KickOut(Schema):
    username: str | None
    guest: str | None


class SanctionRequest(Body):
    username: Username
    seconds: Annotated[int, Ge(1), Le(MAX_SANCTION_SECONDS), Integral] | None = Field(
        None, description="null: until lifted"
    )
    reason: str = Field(default="", max_length=MAX_REASON_CHARS)


class SanctionOut(Schema):
    username: str
    kind: Literal["mute", "ban"]
    until: str | None = Field(description="ISO 8601 UTC; null: until lifted")
    reason: str


class AuditEntryOut(Schema):
    actor: str
    action: str
    target: str
    reason: str
    ts: str


class AuditOut(Schema):
    entries: list[AuditEntryOut]


# --- Direct messages -----------------------------------------------------------------------------


class DmOut(Schema):
    username: str
    last_id: int
    unread: int


class DmsOut(Schema):
    dms: list[DmOut]


# --- Uploads and notifications ---------------------------------------------------------------------


class UploadOut(Schema):
    """An upload, as a message's ``attachments`` carry it."""

    id: int
    name: str
    size: int = Field(description="bytes")
    content_type: str = Field(description="what Parley found the bytes to be")
    url: str = Field(description="/files/<id>/<name>: the room's readers may fetch it once a message carries it")
    width: int | None = Field(description="an image's, in pixels; null otherwise")
    height: int | None
    thumbnail_url: str | None = Field(description="an image's thumbnail (longest side 400 px); null otherwise")


Level = Literal["all", "mentions", "none"]


class Notifications(Body):
    level: Level = Field(description="all: every message; mentions (the default; DMs: all); none")


class NotificationsOut(Schema):
    level: Level


class SearchResult(Schema):
    """A message that matched, as it is now."""

    namespace: str
    room: str
    id: int = Field(description="the message's id in its room")
    sender: str
    ts: str = Field(json_schema_extra={"format": "date-time"})
    message: str
    html: str
    highlights: list[list[int]] = Field(
        description="[start, end) offsets in Unicode code points into `message` of every matched part"
    )


class SearchPage(Schema):
    results: list[SearchResult]
    next_before: int | None = Field(description="pass as `before` for the next page; null on the last")


SearchQuery = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "x-pattern": "search_query",
            "maxLength": 500,
            "description": 'the query (docs/search.md): words, "phrases", -word, from:<username>, in:<room>, '
            "has:file, has:link; with no word or phrase to look for, or over 500 characters: 400 invalid_frame",
        }
    ),
]
