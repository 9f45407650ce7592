"""Uploads' writes and checks: who may upload where (``check_may_upload``), the limits, storing a
file (``upload_create``), who may fetch one (``access_upload``), and the removal of unused ones
(``prune_unused``). Sync ORM code: the API's routes call it on the database thread, the inspection
of the bytes on a thread of its own.

Limits (settings, docs/uploads.md): ``PARLEY_UPLOAD_MAX_BYTES`` per file (413 ``too_large``; the
edge reads no further, ``parley.edge.BodyLimit``), ``PARLEY_UPLOAD_QUOTA_BYTES`` per user (413),
``PARLEY_UPLOADS_PER_MINUTE`` per user (429), the namespace's ``uploads`` policy (off: 403).
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from chat import access
from chat.access import Caller, RoomAccess
from chat.models import Room, RoomMember, Sanction
from chat.protocol import ErrorCode, ProtocolError
from chat.ratelimit import TokenBucket

from . import files, store
from .models import Upload

INVALID_FILE = "invalid_file"  # the API's code for a file that is not what it claims (400)


class UploadRefused(Exception):
    """An upload refused with a code of the API's own (``invalid_file``)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def check_may_upload(caller: Caller, grant: RoomAccess) -> None:
    """Someone who may post in the room may upload to it: not a guest, not muted, and the
    namespace's policy allows uploads. (Seeing the room was ``access``'s question already.)"""
    if caller.user_id is None:
        raise ProtocolError(ErrorCode.FORBIDDEN, "log in to upload")
    if not grant.policy.uploads:
        raise ProtocolError(ErrorCode.FORBIDDEN, "this namespace does not take uploads")
    muted, until = access.sanction_until(caller, grant.ns, Sanction.Kind.MUTE)
    if muted:
        raise ProtocolError(ErrorCode.MUTED, "you are muted in this namespace", until=until)


class _Rates:
    """Uploads per minute per user, in this process (as the API's write budget)."""

    def __init__(self) -> None:
        self.buckets: dict[int, TokenBucket] = {}

    def take(self, user_id: int) -> None:
        per_minute = settings.PARLEY_UPLOADS_PER_MINUTE
        if per_minute <= 0:
            return
        bucket = self.buckets.get(user_id)
        if bucket is None or bucket.burst != per_minute:
            if len(self.buckets) > 10_000:
                self.buckets.clear()
            bucket = self.buckets[user_id] = TokenBucket(rate=per_minute / 60, burst=per_minute)
        if not bucket.take():
            raise ProtocolError(
                ErrorCode.RATE_LIMITED, f"more than {per_minute} uploads a minute", retry_after=bucket.wait()
            )

    def clear(self) -> None:
        self.buckets.clear()


rates = _Rates()


def check_size(size: int) -> None:
    if size > settings.PARLEY_UPLOAD_MAX_BYTES:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"the file is larger than {settings.PARLEY_UPLOAD_MAX_BYTES} bytes")


def inspect(name: str, data: bytes) -> files.Inspected:
    """What the bytes are (CPU: call it on a thread); UploadRefused ``invalid_file`` if not what
    they claim."""
    try:
        return files.inspect(name, data, max_pixels=settings.PARLEY_UPLOAD_MAX_PIXELS)
    except files.InvalidFile as exc:
        raise UploadRefused(INVALID_FILE, str(exc)) from None


def check_quota(caller: Caller, size: int) -> None:
    """413 if ``size`` more bytes would take the caller's uploads past ``PARLEY_UPLOAD_QUOTA_BYTES``."""
    quota = settings.PARLEY_UPLOAD_QUOTA_BYTES
    if not quota or caller.user_id is None:
        return
    used = Upload.objects.filter(user_id=caller.user_id).aggregate(total=Sum("size"))["total"] or 0
    if used + size > quota:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"your uploads would pass your quota of {quota} bytes")


def store_files(room_id: int, name: str, found: files.Inspected) -> tuple[str, str]:
    """Write the file and its thumbnail (on a thread of the caller's: a bucket is a round trip);
    their keys. A failure leaves nothing behind."""
    key = store.new_key(room_id, name)
    thumbnail = store.thumbnail_key(key) if found.thumbnail is not None else ""
    try:
        store.save(key, found.data)
        if found.thumbnail is not None:
            store.save(thumbnail, found.thumbnail)
    except Exception:
        store.remove([key, thumbnail])
        raise
    return key, thumbnail


def upload_create(
    caller: Caller, grant: RoomAccess, name: str, found: files.Inspected, keys: tuple[str, str]
) -> Upload:
    """The row of a stored file (``store_files``); if it cannot be written, the files go."""
    key, thumbnail = keys
    assert caller.user_id is not None  # check_may_upload came first
    try:
        return Upload.objects.create(
            user_id=caller.user_id,
            room=grant.room,
            name=name,
            size=len(found.data),
            content_type=found.content_type,
            width=found.width,
            height=found.height,
            key=key,
            thumbnail_key=thumbnail,
        )
    except Exception:
        store.remove_later([key, thumbnail])
        raise


def access_upload(caller: Caller, upload_id: int, name: str | None) -> Upload:
    """The upload if the caller may fetch it, else not_found (the same answer as for an upload that
    never existed): an unused upload only to its uploader; a used one to whoever may read its room,
    while its message is there and not deleted. ``name`` (None: the thumbnail) must be its name."""
    upload = Upload.objects.select_related("room__namespace", "message").filter(pk=upload_id).first()
    if upload is None or (name is not None and name != upload.name):
        raise access.not_found("file")
    if upload.message is None:
        if caller.user_id is None or caller.user_id != upload.user_id:
            raise access.not_found("file")
        return upload
    if upload.message.deleted or not may_read(caller, upload.room):
        raise access.not_found("file")
    return upload


def may_read(caller: Caller, room: Room) -> bool:
    """Whether the caller may read the room's messages now (a DM: its two members)."""
    if room.namespace.name == access.DM_NAMESPACE:
        return caller.user_id is not None and RoomMember.objects.filter(room=room, user_id=caller.user_id).exists()
    try:
        grant = access.access_room_in(caller, room.namespace.name, room.name)
    except ProtocolError:
        return False
    # A guest reads a room only where guests may join (the namespace's allow_guests, and
    # PARLEY_ALLOW_GUESTS): elsewhere the door refuses them, so the files do too.
    return not caller.guest or grant.policy.allow_guests


def prune_unused(*, now: datetime.datetime | None = None) -> int:
    """Remove the uploads no message has used for ``PARLEY_UPLOAD_UNUSED_HOURS``, and their files
    (after the commit: ``store.row_deleted``). Returns how many."""
    limit = (now or timezone.now()) - datetime.timedelta(hours=settings.PARLEY_UPLOAD_UNUSED_HOURS)
    with transaction.atomic():
        # Locked: a message claiming one of them meanwhile waits, and then finds it gone (not_found).
        ids = list(
            Upload.objects.select_for_update()
            .filter(message__isnull=True, created_at__lt=limit)
            .values_list("pk", flat=True)
        )
        Upload.objects.filter(pk__in=ids).delete()
    return len(ids)
