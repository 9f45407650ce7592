"""Rooms and their messages.

A message's ``seq`` is its id inside its room: 1, 2, 3, ... with no gap. It is assigned under the
room row's lock (``services.message_send``), so when message N is committed every message before it
is committed too; fan-out relies on that to fill any gap it sees from the store.
"""

from django.conf import settings
from django.db import models


class Room(models.Model):
    # NFC-normalised, validated by protocol.check_room_name.
    name = models.CharField(max_length=64, unique=True)
    # The seq of the newest message; the counter that message_send increments under the row lock.
    last_id = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_activity = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    seq = models.BigIntegerField()
    sender = models.CharField(max_length=150)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    client_id = models.CharField(max_length=64, null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="message_room_seq_unique"),
            models.UniqueConstraint(
                fields=["room", "client_id"],
                condition=models.Q(client_id__isnull=False),
                name="message_room_client_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.seq} {self.sender}"
