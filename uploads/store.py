"""Where uploads' bytes live: Django's ``default`` storage, which ``parley/settings.py`` makes a
folder (``PARLEY_MEDIA_ROOT``, no set-up) or an S3-compatible bucket (``PARLEY_S3_BUCKET``, through
django-storages). Keys, writes, removals; the S3 download's presigned URL.

A file goes when its row does (``row_deleted``, Upload's ``post_delete``: a deleted message, a
pruned one, an unused upload's end, the admin's delete of a user, room or namespace), after the
commit, on a thread of its own: a bucket's round trip never holds the group commit.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

log = logging.getLogger("parley.uploads")

_REMOVER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-uploads-remove")


# The most of a file's name a key keeps, bytes of UTF-8: a name on disk holds 255 bytes (a name of
# 200 Korean characters is 600), and a key (``Upload.key``) 200 characters.
KEY_NAME_BYTES = 100


def new_key(room_id: int, name: str) -> str:
    """A key nobody can guess (the id alone does not find a file in the bucket), ending with the
    file's name (cut to KEY_NAME_BYTES, its extension kept) for whoever looks in the folder."""
    return f"uploads/{room_id}/{secrets.token_urlsafe(16)}/{_short(name)}"


def _short(name: str) -> str:
    if len(name.encode()) <= KEY_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    suffix = f".{ext}" if dot and stem and len(ext.encode()) < 16 else ""
    kept = name[: len(name) - len(suffix)].encode()[: KEY_NAME_BYTES - len(suffix.encode())]
    return kept.decode("utf-8", "ignore") + suffix


def thumbnail_key(key: str) -> str:
    return key.rsplit("/", 1)[0] + "/thumbnail.webp"


def save(key: str, data: bytes) -> None:
    """Write ``data`` at ``key`` exactly (a storage that would rename it is a misconfiguration)."""
    saved = default_storage.save(key, ContentFile(data))
    if saved != key:
        raise RuntimeError(f"the storage saved {key!r} as {saved!r}")


def remove(keys: Iterable[str]) -> None:
    """Remove files now (missing ones are no error)."""
    for key in keys:
        if not key:
            continue
        try:
            default_storage.delete(key)
        except Exception:
            log.exception("removing %s failed (it stays in the storage)", key)


def remove_later(keys: Iterable[str]) -> None:
    """Remove files on the remover's thread (call it after the commit that made them unused)."""
    wanted = [k for k in keys if k]
    if wanted:
        _REMOVER.submit(remove, wanted)


def row_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``post_delete`` of an Upload: its files go after the commit, whatever deleted the row (a
    deleted message, retention, prune_uploads, or the admin's delete of a user, room or namespace,
    by cascade)."""
    keys = [instance.key, instance.thumbnail_key]
    transaction.on_commit(lambda: remove_later(keys))


def wait_for_removals() -> None:
    """Block until the removals asked for so far are done (tests, management commands)."""
    _REMOVER.submit(lambda: None).result()


def using_s3() -> bool:
    return bool(settings.PARLEY_S3_BUCKET)


def presigned(key: str, *, content_type: str, disposition: str) -> str:
    """A short-lived URL of the file in the bucket, answering with Parley's type and disposition."""
    parameters = {"ResponseContentType": content_type, "ResponseContentDisposition": disposition}
    storage: Any = default_storage  # django-storages' S3Storage.url takes these
    return str(storage.url(key, parameters=parameters, expire=settings.PARLEY_S3_URL_SECONDS))
