"""The API's bodies, typed: django-ninja builds the OpenAPI schema from these.

Request bodies are strict (a string is a string, an integer an integer: no coercion, as the
WebSocket frames); what they hold is then checked by the same functions as the frames
(``chat.protocol``). Responses mirror the WebSocket frames field for field.
"""

from __future__ import annotations

from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field

from chat import protocol
from chat.namespaces import POLICY_BOUNDS
from chat.protocol import MAX_CLIENT_ID_CHARS, MAX_ID

MAX_TOKEN_NAME_CHARS = 100
MAX_EXPIRES_IN = 10 * 366 * 24 * 3600  # ten years, in seconds


class Body(Schema):
    model_config = ConfigDict(strict=True)


class Error(Schema):
    code: str
    detail: str
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
    expires_in: int | None = Field(default=None, ge=1, le=MAX_EXPIRES_IN, description="seconds; none: never")


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


class EventsPage(Schema):
    events: list[protocol.EventFrame]
    has_more: bool


class Thread(Schema):
    target: int
    messages: list[MessageState]


class PostMessage(Body):
    message: str
    client_id: str | None = Field(default=None, min_length=1, max_length=MAX_CLIENT_ID_CHARS)
    reply_to: int | None = Field(default=None, ge=1, le=MAX_ID)


class EditMessage(Body):
    message: str


class ReactionRequest(Body):
    emoji: str
    op: Literal["add", "remove"]


class ReadRequest(Body):
    up_to: int = Field(ge=0, le=MAX_ID)


class ReadOut(Schema):
    up_to: int


# --- Namespaces ----------------------------------------------------------------------------------

Visibility = Literal["open", "members"]
Creation = Literal["members", "moderators"]
RoleName = Literal["owner", "moderator", "member"]
MAX_USERNAME_CHARS = 150
MAX_REASON_CHARS = 500
MAX_SANCTION_SECONDS = 10 * 366 * 24 * 3600


def _bounded(key: str, description: str) -> Any:
    low, high = POLICY_BOUNDS[key]
    return Field(default=None, ge=low, le=high, description=description + "; null: the server's setting")


class NamespaceOut(Schema):
    name: str
    visibility: Visibility
    allow_guests: bool
    room_creation: Creation
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
    name: str = Field(min_length=1, description="1 to 64 letters, digits, -, _, . (NFC)")
    visibility: Visibility = "open"
    allow_guests: bool = True
    room_creation: Creation = "members"


class PolicyPatch(Body):
    """Any policy fields; the others stay as they are."""

    model_config = ConfigDict(strict=True, extra="forbid")

    visibility: Visibility | None = None
    allow_guests: bool | None = None
    room_creation: Creation | None = None
    max_message_chars: int | None = _bounded("max_message_chars", "longest message, characters")
    rate_per_sec: float | None = _bounded("rate_per_sec", "messages per second per connection")
    rate_burst: int | None = _bounded("rate_burst", "how many of those at once")
    edit_window: float | None = _bounded("edit_window", "seconds an author may edit; 0: no limit")
    history_on_join: int | None = _bounded("history_on_join", "messages in the history frame on join")
    retention_days: int | None = _bounded("retention_days", "days messages are kept; 0: forever")


class MemberOut(Schema):
    username: str
    role: RoleName


class MembersOut(Schema):
    members: list[MemberOut]


class MemberSet(Body):
    username: str = Field(min_length=1, max_length=MAX_USERNAME_CHARS)
    role: RoleName = "member"


class InviteCreate(Body):
    expires_in: int | None = Field(default=None, ge=1, le=MAX_EXPIRES_IN, description="seconds; none: never")
    max_uses: int | None = Field(default=None, ge=1, le=1_000_000, description="none: unlimited")


class InviteOut(Schema):
    code: str
    url: str = Field(description="the join page's path, /ns/<ns>/join/<code>/")


class JoinRequest(Body):
    code: str = Field(min_length=1, max_length=100)


class RoomCreate(Body):
    name: str = Field(min_length=1, description="1 to 64 letters, digits, -, _, . (NFC)")
    private: bool = False


class RoomCreated(Schema):
    name: str
    private: bool


class UsernameIn(Body):
    username: str = Field(min_length=1, max_length=MAX_USERNAME_CHARS)


class UsernameOut(Schema):
    username: str


class KickRequest(Body):
    username: str | None = Field(default=None, min_length=1, max_length=MAX_USERNAME_CHARS)
    guest: str | None = Field(default=None, min_length=1, max_length=100, description="a guest's display name")
    reason: str = Field(default="", max_length=MAX_REASON_CHARS)


class KickOut(Schema):
    username: str | None
    guest: str | None


class SanctionRequest(Body):
    username: str = Field(min_length=1, max_length=MAX_USERNAME_CHARS)
    seconds: int | None = Field(default=None, ge=1, le=MAX_SANCTION_SECONDS, description="none: until lifted")
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
