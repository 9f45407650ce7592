"""Webhooks of a namespace (``/ns/<ns>/hooks/...``), owners and moderators only (``hooks.services``):
incoming hooks (a secret URL per room) and outgoing hooks (a receiver told of events), their
deliveries and resuming a paused one. Secrets are in the creations' answers, once."""

from __future__ import annotations

from typing import Annotated, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Path, Router, Schema
from pydantic import Field, WithJsonSchema

from api import schemas
from api.routes.common import CREATE, LOOKUP, WRITE, answers, json, namespace_of, room_name, spend
from chat import access, db, reads
from chat.protocol import MAX_ID, ErrorCode, ProtocolError
from hooks import receivers, services

ReceiverUrl = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "x-pattern": "receiver_url",
            "minLength": 1,
            "maxLength": receivers.MAX_URL_CHARS,
            "description": "the receiver: an http or https URL with a host, no user name or password; a host that "
            "resolves to a private or loopback address: 403 (unless PARLEY_WEBHOOK_ALLOW_PRIVATE)",
        }
    ),
]

router = Router()


async def check_receiver(url: str) -> None:
    """A receiver's URL: a bad one 400 ``invalid_frame``; one whose host resolves to a private or
    loopback address 403 ``forbidden`` (unless PARLEY_WEBHOOK_ALLOW_PRIVATE). A name that does not
    resolve yet is taken: each delivery resolves it again."""
    try:
        await receivers.check_host(receivers.check_url(url), unresolved_ok=True)
    except receivers.Private as exc:
        raise ProtocolError(ErrorCode.FORBIDDEN, str(exc)) from None
    except receivers.Refused as exc:
        raise ProtocolError(ErrorCode.INVALID_FRAME, str(exc)) from None


HOOK_ID = Path(..., ge=1, le=MAX_ID, description="a hook's id")


class IncomingCreate(schemas.Body):
    name: schemas.DisplayName


class IncomingOut(Schema):
    id: int
    name: str
    room: str
    username: str
    created: str


class IncomingCreated(IncomingOut):
    url: str


class IncomingList(Schema):
    hooks: list[IncomingOut]


Kind = Literal["message", "edit", "delete", "reaction", "mention"]


class OutgoingCreate(schemas.Body):
    url: ReceiverUrl
    events: list[Kind] = Field(..., min_length=1, description="the kinds of events to send")
    room: schemas.RoomName | None = Field(None, description="one room (none: every room of the namespace)")


class OutgoingOut(Schema):
    id: int
    url: str
    events: list[str]
    room: str | None
    state: str
    failures: int
    reason: str
    created: str


class OutgoingCreated(OutgoingOut):
    secret: str


class OutgoingList(Schema):
    hooks: list[OutgoingOut]


class DeliveryOut(Schema):
    event_id: int
    room: str
    delivery: str
    status: int | None
    ok: bool
    time: str
    error: str


class DeliveriesOut(Schema):
    deliveries: list[DeliveryOut]


# --- Incoming ------------------------------------------------------------------------------------


@router.post(
    "/ns/{ns}/rooms/{room}/hooks/incoming",
    response=answers(status=201, schema=IncomingCreated, errors=CREATE),
    tags=["hooks"],
)
async def incoming_create(
    request: HttpRequest, ns: schemas.RoomName, room: schemas.RoomName, body: IncomingCreate
) -> HttpResponse:
    """Make an incoming hook of a room (owners and moderators): `url` is the path `/hooks/<secret>`
    (shown once) that posts into the room as the hook's bot, with no other credentials."""
    user, caller, found = await namespace_of(request, ns)
    found.require_moderator()
    spend(user)
    grant = await reads.read(access.access_room, caller, found, room_name(room))
    hook, secret = await db.call(services.incoming_create, caller, grant, body.name)
    out = await reads.read(lambda: services.incoming_out(hook))
    return json({**out, "url": services.PREFIX + secret}, status=201)


@router.get("/ns/{ns}/hooks/incoming", response=answers(schema=IncomingList, errors=LOOKUP), tags=["hooks"])
async def incoming_list(request: HttpRequest, ns: schemas.RoomName) -> HttpResponse:
    """The namespace's incoming hooks in force, newest first, without their secrets."""
    _, _, found = await namespace_of(request, ns)
    rows = await reads.read(lambda: [services.incoming_out(h) for h in services.incoming_list(found)])
    return json({"hooks": rows})


@router.delete(
    "/ns/{ns}/hooks/incoming/{hook_id}", response=answers(status=204, schema=None, errors=WRITE), tags=["hooks"]
)
async def incoming_delete(request: HttpRequest, ns: schemas.RoomName, hook_id: int = HOOK_ID) -> HttpResponse:
    """Revoke an incoming hook: its URL answers 404 from now on."""
    user, caller, found = await namespace_of(request, ns)
    found.require_moderator()
    spend(user)
    await db.call(services.incoming_revoke, caller, found, hook_id)
    return HttpResponse(status=204)


# --- Outgoing ------------------------------------------------------------------------------------


@router.post(
    "/ns/{ns}/hooks/outgoing", response=answers(status=201, schema=OutgoingCreated, errors=CREATE), tags=["hooks"]
)
async def outgoing_create(request: HttpRequest, ns: schemas.RoomName, body: OutgoingCreate) -> HttpResponse:
    """Make an outgoing hook (owners and moderators): each event of the kinds in `events`
    (`message`, `edit`, `delete`, `reaction`, `mention`) of `room` (none: every room of the
    namespace) from now on is POSTed to `url`, signed with `secret` (shown once). A receiver on a
    private or loopback address: 400, unless the server allows it."""
    user, caller, found = await namespace_of(request, ns)
    found.require_moderator()
    spend(user)
    await check_receiver(body.url)
    hook, secret = await db.call(services.outgoing_create, caller, found, body.url, body.events, body.room)
    return json({**services.outgoing_out(hook), "secret": secret}, status=201)


@router.get("/ns/{ns}/hooks/outgoing", response=answers(schema=OutgoingList, errors=LOOKUP), tags=["hooks"])
async def outgoing_list(request: HttpRequest, ns: schemas.RoomName) -> HttpResponse:
    """The namespace's outgoing hooks, newest first, without their secrets; a paused one says why
    in `reason`."""
    _, _, found = await namespace_of(request, ns)
    rows = await reads.read(lambda: [services.outgoing_out(h) for h in services.outgoing_list(found)])
    return json({"hooks": rows})


@router.get("/ns/{ns}/hooks/outgoing/{hook_id}", response=answers(schema=OutgoingOut, errors=LOOKUP), tags=["hooks"])
async def outgoing_get(request: HttpRequest, ns: schemas.RoomName, hook_id: int = HOOK_ID) -> HttpResponse:
    """One outgoing hook (without its secret)."""
    _, _, found = await namespace_of(request, ns)
    return json(await reads.read(lambda: services.outgoing_out(services.outgoing_of(found, hook_id))))


@router.delete(
    "/ns/{ns}/hooks/outgoing/{hook_id}", response=answers(status=204, schema=None, errors=WRITE), tags=["hooks"]
)
async def outgoing_delete(request: HttpRequest, ns: schemas.RoomName, hook_id: int = HOOK_ID) -> HttpResponse:
    """Delete an outgoing hook: nothing more is delivered to it."""
    user, caller, found = await namespace_of(request, ns)
    found.require_moderator()
    spend(user)
    await db.call(services.outgoing_delete, caller, found, hook_id)
    return HttpResponse(status=204)


@router.get(
    "/ns/{ns}/hooks/outgoing/{hook_id}/deliveries",
    response=answers(schema=DeliveriesOut, errors=LOOKUP),
    tags=["hooks"],
)
async def outgoing_deliveries(request: HttpRequest, ns: schemas.RoomName, hook_id: int = HOOK_ID) -> HttpResponse:
    """The hook's last attempts, newest first: event id, room, status (null: no answer), time, error."""
    _, _, found = await namespace_of(request, ns)
    return json({"deliveries": await reads.read(services.deliveries, found, hook_id)})


@router.post(
    "/ns/{ns}/hooks/outgoing/{hook_id}/resume",
    response=answers(schema=OutgoingOut, errors=WRITE),
    tags=["hooks"],
)
async def outgoing_resume(request: HttpRequest, ns: schemas.RoomName, hook_id: int = HOOK_ID) -> HttpResponse:
    """Resume a paused hook from where it stopped (nothing was skipped)."""
    user, caller, found = await namespace_of(request, ns)
    found.require_moderator()
    spend(user)
    return json(await db.call(lambda: services.outgoing_out(services.outgoing_resume(caller, found, hook_id))))
