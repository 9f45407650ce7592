"""An uploaded file: who sent it, to which room, what Parley found it to be, and the message that
uses it (none yet: removed after ``PARLEY_UPLOAD_UNUSED_HOURS`` by ``manage.py prune_uploads``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import models

from chat.models import Message, Room


class Upload(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="uploads")
    # The message that refers to it; null until a message claims it (and after an edit drops it).
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.CASCADE, related_name="uploads")
    name = models.CharField(max_length=255)  # as the uploader named it (made safe: files.safe_name)
    size = models.BigIntegerField()  # bytes, as stored
    content_type = models.CharField(max_length=100)  # from the bytes (files.inspect), never the client's
    width = models.PositiveIntegerField(null=True, blank=True)  # an image's, EXIF orientation applied
    height = models.PositiveIntegerField(null=True, blank=True)
    key = models.CharField(max_length=200, unique=True)  # the file's name in the storage
    thumbnail_key = models.CharField(max_length=200, blank=True, default="")  # an image's thumbnail
    # When it was uploaded, or when an edit last dropped it: the start of the unused time that
    # ``prune_uploads`` counts (PARLEY_UPLOAD_UNUSED_HOURS).
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "created_at"], name="upload_user_recent"),
            models.Index(fields=["message"], name="upload_message"),
            models.Index(fields=["created_at"], name="upload_created", condition=models.Q(message__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.pk} {self.name}"

    @property
    def image(self) -> bool:
        return self.width is not None

    def out(self) -> dict[str, Any]:
        """As every message object and the upload's answer carry it (docs/protocol.md)."""
        name = quote(self.name, safe="")
        return {
            "id": self.pk,
            "name": self.name,
            "size": self.size,
            "content_type": self.content_type,
            "url": f"/files/{self.pk}/{name}",
            "width": self.width,
            "height": self.height,
            "thumbnail_url": f"/files/{self.pk}/thumbnail/{name}" if self.thumbnail_key else None,
        }
