"""Rooms, their event stream, and the current state of their messages.

Every change in a room is an **event** with the room's next id (``seq``): 1, 2, 3, ... with no gap,
across all kinds (a message, an edit, a delete, a reaction). Ids are assigned under the room row's
lock (``services.apply_changes``), so when event N is committed every event before it is committed
too; fan-out relies on that to fill any gap it sees from the store.

Two tables hold a room's history, written in the same transaction:

- ``Event``: the stream, as it went out live (``frame`` is the encoded frame every client got), so a
  resume (``?after=``) and a gap fill are one range read that sends the stored text as it is.
- ``Message``: the current state of each message (``seq`` is the id of the event that posted it),
  updated in place by edits, deletes and reactions, so "message N as it is now" is one row and a
  history page is one range read, with no replay of events.
"""

from django.conf import settings
from django.db import models


class Room(models.Model):
    # NFC-normalised, validated by protocol.check_room_name.
    name = models.CharField(max_length=64, unique=True)
    # The seq of the newest event; the counter that services.apply_changes increments under the row lock.
    last_id = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_activity = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return self.name


class Event(models.Model):
    """One event of a room's stream, exactly as it was sent live."""

    class Kind(models.TextChoices):
        MESSAGE = "message"
        EDIT = "edit"
        DELETE = "delete"
        REACTION = "reaction"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="events")
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    frame = models.TextField()  # the encoded frame (JSON text)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "seq"], name="event_room_seq_unique")]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.seq} {self.kind}"


class Message(models.Model):
    """A message as it is now."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    seq = models.BigIntegerField()  # the id of the event that posted it
    sender = models.CharField(max_length=150)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A guest's Django session: a guest may edit and delete what they sent in the same session.
    session_key = models.CharField(max_length=40, null=True, blank=True)
    body = models.TextField()
    client_id = models.CharField(max_length=64, null=True, blank=True)
    created_at = models.DateTimeField()
    reply_to = models.BigIntegerField(null=True, blank=True)  # the seq of the message replied to
    mentions = models.JSONField(default=list)  # names, as in the message frame
    edited = models.BooleanField(default=False)
    deleted = models.BooleanField(default=False)
    reactions = models.JSONField(default=dict)  # {emoji: [names, in the order they reacted]}
    replies = models.IntegerField(default=0)  # messages posted with reply_to = this one

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="message_room_seq_unique"),
            models.UniqueConstraint(
                fields=["room", "client_id"],
                condition=models.Q(client_id__isnull=False),
                name="message_room_client_id_unique",
            ),
        ]
        indexes = [
            models.Index(
                fields=["room", "reply_to"], name="message_thread", condition=models.Q(reply_to__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.seq} {self.sender}"


class ReadState(models.Model):
    """How far a logged-in user has read a room: every event id up to ``up_to``."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    up_to = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "room"], name="readstate_user_room_unique")]


class Mention(models.Model):
    """A logged-in user named with ``@name`` in a message (the Mentions page lists them)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField()  # the message's id
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="mention_user_recent")]
