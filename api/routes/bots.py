"""Bot accounts of a namespace (``/ns/<ns>/bots``): made, listed and deactivated by its owners and
moderators (``bots.services``). The token is in the creation's answer, once."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema

from api import schemas
from api.routes.common import CREATE, LOOKUP, WRITE, answers, json, namespace_of, spend
from bots import services
from chat import db, reads

router = Router()


class BotCreate(schemas.Body):
    name: schemas.DisplayName


class BotOut(Schema):
    username: str
    name: str
    active: bool
    created: str


class BotCreated(BotOut):
    token: str


class BotsOut(Schema):
    bots: list[BotOut]


@router.post("/ns/{ns}/bots", response=answers(status=201, schema=BotCreated, errors=CREATE), tags=["bots"])
async def bot_create(request: HttpRequest, ns: schemas.RoomName, body: BotCreate) -> HttpResponse:
    """Make a bot (owners and moderators): a user that cannot log in with a password, a member of
    this namespace only, that speaks with `token` (shown once). Its `username` is the name made
    unique, never a look-alike of a registered user's."""
    user, caller, found = await namespace_of(request, ns)
    found.require_moderator()
    spend(user)
    bot, secret = await db.call(services.bot_create, caller, found, body.name)
    return json({**services.bot_out(bot), "token": secret}, status=201)


@router.get("/ns/{ns}/bots", response=answers(schema=BotsOut, errors=LOOKUP), tags=["bots"])
async def bot_list(request: HttpRequest, ns: schemas.RoomName) -> HttpResponse:
    """The namespace's bots, newest first, active or not (owners and moderators)."""
    _, _, found = await namespace_of(request, ns)
    rows = await reads.read(services.bots_of, found)
    return json({"bots": [services.bot_out(b) for b in rows]})


@router.delete("/ns/{ns}/bots/{username}", response=answers(status=204, schema=None, errors=WRITE), tags=["bots"])
async def bot_delete(request: HttpRequest, ns: schemas.RoomName, username: schemas.Username) -> HttpResponse:
    """Deactivate a bot: its tokens stop working, its connections close with 4410."""
    user, caller, found = await namespace_of(request, ns)
    found.require_moderator()
    spend(user)
    await services.do_bot_deactivate(caller, found, username)
    return HttpResponse(status=204)
