"""Personal tokens (``/tokens``) and who the credentials speak as (``/me``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Path, Router

from accounts import tokens
from accounts.models import ApiToken
from api import schemas
from api.auth import password_login
from api.routes.common import (
    PLAIN,
    answers,
    json,
    user_of,
)
from chat import db, protocol, reads
from chat.protocol import MAX_ID, ErrorCode, ProtocolError

router = Router()


def token_out(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "created": protocol.format_ts(token.created),
        "expires": protocol.format_ts(token.expires) if token.expires else None,
        "last_used": protocol.format_ts(token.last_used) if token.last_used else None,
    }


# --- Tokens --------------------------------------------------------------------------------------


@router.post(
    "/tokens",
    auth=None,
    response=answers(status=201, schema=schemas.TokenCreated, errors=(400, 401, 429, 503)),
    tags=["tokens"],
)
async def token_request(request: HttpRequest, body: schemas.TokenRequest) -> HttpResponse:
    """Make a personal token from a username and password. Failed attempts count like failed
    logins (per username and per address); past the limit: 429. The secret is in `token`, once."""
    user = await db.call(password_login, request, body.username, body.password)
    token, secret = await db.call(tokens.token_create, user, body.name, body.expires_in)
    return json({**token_out(token), "token": secret}, status=201)


@router.get("/tokens", response=answers(schema=schemas.TokensOut, errors=PLAIN), tags=["tokens"])
async def token_list(request: HttpRequest) -> HttpResponse:
    """The caller's tokens (not revoked), newest first, without their secrets."""
    rows = await reads.read(tokens.user_tokens, user_of(request))
    return json({"tokens": [token_out(t) for t in rows]})


@router.delete(
    "/tokens/{token_id}", response=answers(status=204, schema=None, errors=(400, 401, 403, 404, 503)), tags=["tokens"]
)
async def token_delete(request: HttpRequest, token_id: int = Path(..., ge=1, le=MAX_ID)) -> HttpResponse:
    """Revoke one of the caller's tokens (another user's, or an unknown id: 404)."""
    if not await db.call(tokens.token_revoke, user_of(request), token_id):
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no token {token_id} of yours")
    return HttpResponse(status=204)


# --- The caller and the rooms -------------------------------------------------------------------


@router.get("/me", response=answers(schema=schemas.MeOut, errors=PLAIN), tags=["tokens"])
async def me(request: HttpRequest) -> HttpResponse:
    """Who the credentials speak as."""
    return json({"username": user_of(request).get_username(), "guest": False})
