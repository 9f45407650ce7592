"""The API's bodies, typed: django-ninja builds the OpenAPI schema from these.

Request bodies are strict (a string is a string, an integer an integer: no coercion, as the
WebSocket frames); what they hold is then checked by the same functions as the frames
(``chat.protocol``). Responses mirror the WebSocket frames field for field.
"""

from __future__ import annotations

from typing import Literal

from ninja import Schema
from pydantic import ConfigDict, Field

from chat import protocol
from chat.protocol import MAX_CLIENT_ID_CHARS, MAX_ID

MAX_TOKEN_NAME_CHARS = 100
MAX_EXPIRES_IN = 10 * 366 * 24 * 3600  # ten years, in seconds


class Body(Schema):
    model_config = ConfigDict(strict=True)


class Error(Schema):
    code: str
    detail: str


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
