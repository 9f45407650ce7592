"""Uploads (``POST .../uploads``: multipart, field ``file``) and a room's notification level
(``GET``/``PUT .../notifications``), for ``public``'s rooms, any namespace's, and direct messages.

An upload is stored for its uploader in its room until a message carries it (``attachments`` on a
post or an edit); then whoever may read the room may fetch it (``/files/<id>/<name>``,
``uploads.views``). docs/uploads.md has the rules and the limits.
"""

from __future__ import annotations

import asyncio

from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from ninja import File, Router
from ninja.files import UploadedFile

from api import schemas
from api.routes.common import PUBLIC, answers, caller_of, json, room_name, room_of, user_of
from chat import access, db, namespaces, reads, selectors, services
from chat.access import RoomAccess
from uploads import files
from uploads import services as uploads

router = Router()

# An upload's errors: a bad file 400 (invalid_file), not allowed or muted 403, too large or over
# the quota 413, too many a minute 429.
UPLOAD = answers(status=201, schema=schemas.UploadOut, errors=(400, 401, 403, 404, 413, 429, 503))
LEVEL_READ = answers(schema=schemas.NotificationsOut, errors=(400, 401, 403, 404, 503))
LEVEL_WRITE = answers(schema=schemas.NotificationsOut, errors=(400, 401, 403, 404, 503))


async def _upload(user: AbstractBaseUser, grant: RoomAccess, file: UploadedFile) -> HttpResponse:
    """Check, inspect (on a thread: Pillow), store (on a thread: a bucket is a round trip), record."""
    caller = caller_of(user)
    await db.call(uploads.check_may_upload, caller, grant)
    uploads.check_size(file.size or 0)
    uploads.rates.take(caller.user_id or 0)
    name = files.safe_name(file.name or "file")
    data = await asyncio.to_thread(file.read)
    uploads.check_size(len(data))
    await db.call(uploads.check_quota, caller, len(data))
    found = await asyncio.to_thread(uploads.inspect, name, data)
    keys = await asyncio.to_thread(uploads.store_files, grant.room.pk, name, found)
    upload = await db.call(uploads.upload_create, caller, grant, name, found, keys)
    return json(upload.out(), status=201)


async def _room(user: AbstractBaseUser, ns: str, room: str) -> RoomAccess:
    """The room to upload to: one the caller may post in (a missing one made where they may create
    rooms, as a post does)."""
    return await db.call(access.access_join, caller_of(user), ns, room_name(room))


async def _dm(user: AbstractBaseUser, username: str) -> RoomAccess:
    grant, _ = await db.call(namespaces.dm_room, caller_of(user), username)
    return grant


@router.post("/rooms/{room}/uploads", response=UPLOAD, tags=["uploads"])
async def upload(request: HttpRequest, room: schemas.RoomName, file: File[UploadedFile]) -> HttpResponse:
    """Upload a file to a room of `public` (multipart, field `file`): 201 with the upload. Attach it
    to a message with `attachments: [id]`; until then only you may fetch it, and an upload no
    message uses is removed after a day. Images get their size and a thumbnail; their EXIF (a
    phone's GPS) is stripped. A file that is not what its name says, a truncated image or one of
    too many pixels: 400 `invalid_file`."""
    user = user_of(request)
    return await _upload(user, await _room(user, PUBLIC, room), file)


@router.post("/ns/{ns}/rooms/{room}/uploads", response=UPLOAD, tags=["uploads"])
async def ns_upload(
    request: HttpRequest, ns: schemas.RoomName, room: schemas.RoomName, file: File[UploadedFile]
) -> HttpResponse:
    """As `POST /rooms/{room}/uploads`, to a room of a namespace (its policy's `uploads` off: 403)."""
    user = user_of(request)
    return await _upload(user, await _room(user, ns, room), file)


@router.post("/dm/{username}/uploads", response=UPLOAD, tags=["uploads"])
async def dm_upload(request: HttpRequest, username: schemas.Username, file: File[UploadedFile]) -> HttpResponse:
    """As `POST /rooms/{room}/uploads`, to your direct messages with `username`."""
    user = user_of(request)
    return await _upload(user, await _dm(user, username), file)


# --- Notification levels -------------------------------------------------------------------------


async def _level(user: AbstractBaseUser, grant: RoomAccess) -> HttpResponse:
    level = await reads.read(selectors.notify_level, user_id=user.pk, room=grant.room)
    return json({"level": level})


async def _set_level(user: AbstractBaseUser, grant: RoomAccess, body: schemas.Notifications) -> HttpResponse:
    level = await db.call(services.notify_level_set, user_id=user.pk, room=grant.room, level=body.level)
    return json({"level": level})


@router.get("/rooms/{room}/notifications", response=LEVEL_READ, tags=["notifications"])
async def notifications(request: HttpRequest, room: schemas.RoomName) -> HttpResponse:
    """How you hear of a room of `public`: `all` (every message), `mentions` (the default), `none`."""
    user = user_of(request)
    return await _level(user, await room_of(user, PUBLIC, room))


@router.put("/rooms/{room}/notifications", response=LEVEL_WRITE, tags=["notifications"])
async def notifications_set(request: HttpRequest, room: schemas.RoomName, body: schemas.Notifications) -> HttpResponse:
    """Choose how you hear of a room of `public` (kept on the server, for every page of yours)."""
    user = user_of(request)
    return await _set_level(user, await room_of(user, PUBLIC, room), body)


@router.get("/ns/{ns}/rooms/{room}/notifications", response=LEVEL_READ, tags=["notifications"])
async def ns_notifications(request: HttpRequest, ns: schemas.RoomName, room: schemas.RoomName) -> HttpResponse:
    """As `GET /rooms/{room}/notifications`, in a room of a namespace."""
    user = user_of(request)
    return await _level(user, await room_of(user, ns, room))


@router.put("/ns/{ns}/rooms/{room}/notifications", response=LEVEL_WRITE, tags=["notifications"])
async def ns_notifications_set(
    request: HttpRequest, ns: schemas.RoomName, room: schemas.RoomName, body: schemas.Notifications
) -> HttpResponse:
    """As `PUT /rooms/{room}/notifications`, in a room of a namespace."""
    user = user_of(request)
    return await _set_level(user, await room_of(user, ns, room), body)


@router.get("/dm/{username}/notifications", response=LEVEL_READ, tags=["notifications"])
async def dm_notifications(request: HttpRequest, username: schemas.Username) -> HttpResponse:
    """How you hear of your direct messages with `username` (the default: `all`)."""
    user = user_of(request)
    return await _level(user, await _dm(user, username))


@router.put("/dm/{username}/notifications", response=LEVEL_WRITE, tags=["notifications"])
async def dm_notifications_set(
    request: HttpRequest, username: schemas.Username, body: schemas.Notifications
) -> HttpResponse:
    """Choose how you hear of your direct messages with `username`."""
    user = user_of(request)
    return await _set_level(user, await _dm(user, username), body)
