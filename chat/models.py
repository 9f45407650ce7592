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

from typing import Any

from django.conf import settings
from django.db import models

from . import protocol


class Namespace(models.Model):
    """A space with its own members, roles and rules (docs/namespaces.md). ``public`` is the default
    one: every URL without a namespace addresses its rooms. Its policy fields are ``policy.Policy``;
    a null override takes the server's setting."""

    class Visibility(models.TextChoices):
        OPEN = "open"  # anyone may see it and join its public rooms
        MEMBERS = "members"  # only its members see anything

    class Creation(models.TextChoices):
        MEMBERS = "members"
        MODERATORS = "moderators"

    name = models.CharField(max_length=64, unique=True)  # room-name rules (protocol.check_room_name)
    visibility = models.CharField(max_length=8, choices=Visibility.choices, default=Visibility.OPEN)
    allow_guests = models.BooleanField(default=True)
    room_creation = models.CharField(max_length=10, choices=Creation.choices, default=Creation.MEMBERS)
    max_message_chars = models.PositiveIntegerField(null=True, blank=True)
    rate_per_sec = models.FloatField(null=True, blank=True)
    rate_burst = models.PositiveIntegerField(null=True, blank=True)
    edit_window = models.FloatField(null=True, blank=True)
    history_on_join = models.PositiveIntegerField(null=True, blank=True)
    retention_days = models.PositiveIntegerField(null=True, blank=True)  # 0: forever
    uploads = models.BooleanField(default=True)  # members may share files (PARLEY_UPLOADS off: nowhere)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner"
    MODERATOR = "moderator"
    MEMBER = "member"


class Membership(models.Model):
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=9, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "user"], name="membership_ns_user_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.namespace_id} ({self.role})"


class Room(models.Model):
    namespace = models.ForeignKey(Namespace, on_delete=models.PROTECT, related_name="rooms")
    # NFC-normalised, validated by protocol.check_room_name.
    name = models.CharField(max_length=64)
    # The room's key across the system (the hub, the bus, Redis): its name in ``public``,
    # ``<namespace>/<name>`` elsewhere ('/' is in no room name); see protocol.room_address.
    address = models.CharField(max_length=140, unique=True)
    private = models.BooleanField(default=False)  # its members (RoomMember) only
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The seq of the newest event; the counter that services.apply_changes increments under the row lock.
    last_id = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_activity = models.DateTimeField(auto_now_add=True, db_index=True)
    # Every event up to this id was removed by the retention job (``services.prune``): a resume
    # from before it starts after it (the ids after it stay consecutive).
    pruned_to = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "name"], name="room_ns_name_unique")]

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A room made without a namespace is a room of ``public``; its address follows its names."""
        if self.namespace_id is None:
            self.namespace, _ = Namespace.objects.get_or_create(name=protocol.PUBLIC)
        if not self.address:
            self.address = protocol.room_address(self.namespace.name, self.name)
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.address


class RoomMember(models.Model):
    """A member of a private room."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="roommember_room_user_unique")]


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
    html = models.TextField(default="", blank=True)  # body rendered (markup.render); "" once deleted
    attachments = models.JSONField(default=list)  # its uploads as the frames carry them (Upload.out)
    client_id = models.CharField(max_length=64, null=True, blank=True)
    created_at = models.DateTimeField()
    reply_to = models.BigIntegerField(null=True, blank=True)  # the seq of the message replied to
    mentions = models.JSONField(default=list)  # names, as in the message frame
    edited = models.BooleanField(default=False)
    deleted = models.BooleanField(default=False)
    reactions = models.JSONField(default=dict)  # {emoji: [names, in the order they reacted]}
    replies = models.IntegerField(default=0)  # messages posted with reply_to = this one
    bot = models.BooleanField(default=False)  # sent by a bot account or a webhook (bots/, hooks/)

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


class Invite(models.Model):
    """A link that makes whoever follows it a member of a namespace."""

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="invites")
    code = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    max_uses = models.PositiveIntegerField(null=True, blank=True)
    uses = models.PositiveIntegerField(default=0)
    revoked = models.BooleanField(default=False)


class Sanction(models.Model):
    """A mute or a ban of an account in a namespace, until ``until`` (null: until lifted)."""

    class Kind(models.TextChoices):
        MUTE = "mute"
        BAN = "ban"

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="sanctions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=4, choices=Kind.choices)
    until = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True, default="")
    by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["namespace", "user", "kind"], name="sanction_ns_user_kind_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.user_id} in {self.namespace_id}"


class AuditEntry(models.Model):
    """One moderation action, role or membership change, policy change, or invite change."""

    class Action(models.TextChoices):
        DELETE = "delete"
        MUTE = "mute"
        UNMUTE = "unmute"
        KICK = "kick"
        BAN = "ban"
        UNBAN = "unban"
        MEMBER_ADD = "member_add"
        MEMBER_REMOVE = "member_remove"
        ROLE = "role"
        POLICY = "policy"
        INVITE_CREATE = "invite_create"
        INVITE_REVOKE = "invite_revoke"
        BOT_CREATE = "bot_create"  # bots/
        BOT_DEACTIVATE = "bot_deactivate"
        HOOK_IN_CREATE = "hook_in_create"  # hooks/
        HOOK_IN_REVOKE = "hook_in_revoke"
        HOOK_OUT_CREATE = "hook_out_create"
        HOOK_OUT_DELETE = "hook_out_delete"
        HOOK_OUT_RESUME = "hook_out_resume"

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="audit")
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=16, choices=Action.choices)
    target = models.CharField(max_length=200, blank=True, default="")
    reason = models.CharField(max_length=500, blank=True, default="")
    ts = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["namespace", "-id"], name="audit_ns_recent")]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.target}"


class NotifyLevel(models.Model):
    """How a logged-in user wants to hear of a room: every message, mentions only, or nothing.
    No row: the default (mentions; every message in a direct message)."""

    class Level(models.TextChoices):
        ALL = "all"
        MENTIONS = "mentions"
        NONE = "none"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    level = models.CharField(max_length=8, choices=Level.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "room"], name="notifylevel_user_room_unique")]
