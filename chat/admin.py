"""The Django admin (``/admin/``, for staff): namespaces, rooms, members, sanctions, the audit log
and messages. A message deleted here is deleted through the chat (``actions.do_delete`` as a
moderator), so connected clients see the delete and the store keeps its event stream whole."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import actions, moderation
from .identity import Identity
from .models import AuditEntry, Membership, Message, Namespace, Room, RoomMember, Sanction
from .protocol import ProtocolError


@admin.register(Namespace)
class NamespaceAdmin(admin.ModelAdmin):
    list_display = ("name", "visibility", "allow_guests", "room_creation", "created_at")
    list_filter = ("visibility", "allow_guests", "room_creation")
    search_fields = ("name",)


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("address", "namespace", "name", "private", "last_id", "last_activity")
    list_filter = ("private", "namespace")
    search_fields = ("address", "name")
    readonly_fields = ("address", "last_id", "created_at", "last_activity")
    raw_id_fields = ("created_by",)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("namespace", "user", "role", "joined_at")
    list_filter = ("role", "namespace")
    search_fields = ("namespace__name", "user__username")
    raw_id_fields = ("user",)


@admin.register(RoomMember)
class RoomMemberAdmin(admin.ModelAdmin):
    list_display = ("room", "user")
    search_fields = ("room__address", "user__username")
    raw_id_fields = ("room", "user")


@admin.register(Sanction)
class SanctionAdmin(admin.ModelAdmin):
    list_display = ("namespace", "user", "kind", "until", "by", "reason", "created_at")
    list_filter = ("kind", "namespace")
    search_fields = ("namespace__name", "user__username", "reason", "by")
    raw_id_fields = ("user",)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("ts", "namespace", "actor", "action", "target", "reason")
    list_filter = ("action", "namespace")
    search_fields = ("namespace__name", "actor", "target", "reason")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the log is what happened


def delete_through_chat(request: HttpRequest, message: Message) -> bool:
    """Delete ``message`` as a moderator through the chat (clients see the delete event); False,
    with the reason shown, if it was refused."""
    user = request.user
    who = Identity(name=user.get_username(), guest=False, user_id=user.pk, staff=True)
    try:
        moderation.from_sync(actions.do_delete, room=message.room, who=who, target=message.seq, moderator=True)
    except ProtocolError as exc:
        messages.error(request, f"{message}: {exc.detail}")
        return False
    return True


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("room", "seq", "sender", "short_body", "created_at", "edited", "deleted")
    list_filter = ("deleted", "edited")
    search_fields = ("room__address", "sender", "body")
    list_select_related = ("room",)
    # The store's columns are the chat's: edits and deletes go through the chat, not this form.
    readonly_fields = (
        "room",
        "seq",
        "sender",
        "user",
        "session_key",
        "body",
        "client_id",
        "created_at",
        "reply_to",
        "mentions",
        "edited",
        "deleted",
        "reactions",
        "replies",
    )
    actions = ["delete_through_chat_action"]

    @admin.display(description="text")
    def short_body(self, obj: Message) -> str:
        return obj.body if len(obj.body) <= 80 else obj.body[:79] + "…"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Delete through the chat (clients see it)", permissions=["delete"])
    def delete_through_chat_action(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        done = sum(delete_through_chat(request, m) for m in queryset.select_related("room").filter(deleted=False))
        self.message_user(request, f"{done} message(s) deleted through the chat.", messages.SUCCESS)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> Any:
        """Not in a transaction (ModelAdmin's is): the chat's delete is stored by the group commit,
        on its own connection, and an open transaction here would hold the lock it waits for."""
        return self._delete_view(request, object_id, extra_context)  # type: ignore[attr-defined]  # Django's, untyped

    def delete_model(self, request: HttpRequest, obj: Message) -> None:
        """The change page's "Delete": the chat's delete (the row stays, marked deleted, text gone)."""
        if not obj.deleted:
            delete_through_chat(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        """The list's "Delete selected": each through the chat."""
        for message in queryset.select_related("room").filter(deleted=False):
            delete_through_chat(request, message)
