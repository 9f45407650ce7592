"""``GET /files/<id>/<name>`` and ``GET /files/<id>/thumbnail/<name>``: an upload's bytes, behind its
room's access rules (``services.access_upload``: someone who may not read the room, or a file whose
message is deleted or pruned, gets the same 404 as a file that never existed).

Served with the type Parley found in the bytes, ``X-Content-Type-Options: nosniff`` and
``Cache-Control: private`` (five minutes); PNG, JPEG, GIF and WebP inline, anything else (SVG and HTML included) as
an attachment, and a sandboxing Content-Security-Policy either way. Range requests work (a video's
seek, a large PDF's pages). With S3 the answer is a short-lived presigned redirect to the bucket,
after the same check.

Credentials as for the API: ``Authorization: Bearer <token>`` (a bad one: the API's 401), or the
browser's session. Async
views: the check runs on a read thread, the file is read in chunks on threads, the server's loop
never waits on a disk or a bucket.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import IO, Any
from urllib.parse import quote

from django.core.files.storage import default_storage
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase

from accounts.tokens import user_for_token
from chat import db, reads
from chat.access import GUEST, Caller
from chat.protocol import ProtocolError

from . import files, services, store
from .models import Upload

CHUNK = 256 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class BadToken(Exception):
    """A Bearer token that names no active user: 401, as the API answers it (not a guest's 404)."""


async def _caller(request: HttpRequest) -> Caller:
    """Who asks: a Bearer token's user (a bad token: BadToken), else the session's."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":
        user: Any = await db.call(user_for_token, token.strip())
        if user is None:
            raise BadToken
    else:
        user = await request.auser()
    if user is None or not user.is_authenticated:
        return GUEST
    return Caller(user_id=user.pk, staff=bool(user.is_staff))


async def _find(request: HttpRequest, upload_id: int, name: str) -> Upload:
    if request.method not in ("GET", "HEAD"):
        raise Http404("no such file")
    try:
        return await reads.read(services.access_upload, await _caller(request), upload_id, name)
    except ProtocolError:
        raise Http404("no such file") from None


def disposition(upload: Upload, *, thumbnail: bool = False) -> str:
    """inline for the images a browser shows, attachment for anything else."""
    kind = "inline" if thumbnail or upload.content_type in files.IMAGE_TYPES.values() else "attachment"
    return f"{kind}; filename*=UTF-8''{quote(upload.name, safe='')}"


def _unauthenticated() -> HttpResponse:
    """A bad Bearer token's answer: the API's 401 (a program sees why, not a file's 404)."""
    body = {"error": {"code": "unauthenticated", "detail": "unknown, revoked or expired token"}}
    return JsonResponse(body, status=401, headers={"WWW-Authenticate": 'Bearer realm="parley"'})


async def download(request: HttpRequest, upload_id: int, name: str) -> HttpResponseBase:
    try:
        upload = await _find(request, upload_id, name)
    except BadToken:
        return _unauthenticated()
    return await _serve(request, upload.key, upload.content_type, disposition(upload))


async def thumbnail(request: HttpRequest, upload_id: int, name: str) -> HttpResponseBase:
    try:
        upload = await _find(request, upload_id, name)
    except BadToken:
        return _unauthenticated()
    if not upload.thumbnail_key:
        raise Http404("no thumbnail")
    return await _serve(request, upload.thumbnail_key, "image/webp", disposition(upload, thumbnail=True))


async def _serve(request: HttpRequest, key: str, content_type: str, how: str) -> HttpResponseBase:
    if store.using_s3():
        url = await asyncio.to_thread(store.presigned, key, content_type=content_type, disposition=how)
        response: HttpResponseBase = HttpResponseRedirect(url)
    else:
        response = await _ranged(request, key, content_type)
        response["Content-Disposition"] = how
    response["X-Content-Type-Options"] = "nosniff"
    # Kept by the browser (never a shared cache) for five minutes: a page showing a file does not
    # fetch it again and again; a deleted message's file may stay on screens that long.
    response["Cache-Control"] = "private, max-age=300"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"  # a file is never a page
    return response


async def _ranged(request: HttpRequest, key: str, content_type: str) -> HttpResponseBase:
    """The file, or the byte range asked for (one range: ``bytes=a-b``, ``bytes=a-``, ``bytes=-n``):
    206 with Content-Range; a range that starts past the end: 416. A header Parley does not read
    (several ranges, another unit, ``b`` before ``a``) is ignored: the whole file. HEAD reads no
    byte of the file."""
    try:
        size = await asyncio.to_thread(default_storage.size, key)
    except FileNotFoundError:
        raise Http404("no such file") from None
    try:
        start, end = _range(request.headers.get("Range", ""), size)
    except _Unsatisfiable:
        refused = HttpResponse(status=416, content_type=content_type)
        refused["Content-Range"] = f"bytes */{size}"
        return refused
    partial = (start, end) != (0, size - 1)
    status = 206 if partial else 200
    length = end - start + 1
    response: HttpResponseBase
    if request.method == "HEAD":
        response = HttpResponse(status=status, content_type=content_type)
    else:
        try:
            handle: IO[bytes] = await asyncio.to_thread(default_storage.open, key, "rb")
        except FileNotFoundError:
            raise Http404("no such file") from None
        response = StreamingHttpResponse(_chunks(handle, start, length), status=status, content_type=content_type)
    response["Accept-Ranges"] = "bytes"
    response["Content-Length"] = str(length)
    if partial:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return response


class _Unsatisfiable(Exception):
    """A range that starts at or past the end of the file (416)."""


def _range(header: str, size: int) -> tuple[int, int]:
    """The first and last byte to send (the whole file: ``(0, size - 1)``)."""
    found = _RANGE.match(header.strip())
    if found is None or not any(found.groups()):
        return 0, size - 1
    first, last = found.groups()
    if first:
        start = int(first)
        if last and int(last) < start:
            return 0, size - 1  # not a valid range: ignored (RFC 9110, 14.2)
        if start >= size:
            raise _Unsatisfiable
        return start, min(int(last), size - 1) if last else size - 1
    suffix = int(last)
    if suffix == 0 or size == 0:
        raise _Unsatisfiable
    return max(size - suffix, 0), size - 1


async def _chunks(handle: IO[bytes], start: int, length: int) -> AsyncIterator[bytes]:
    try:
        await asyncio.to_thread(handle.seek, start)
        while length > 0:
            data = await asyncio.to_thread(handle.read, min(CHUNK, length))
            if not data:
                return
            length -= len(data)
            yield data
    finally:
        handle.close()
