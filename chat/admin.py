"""The Django admin (``/admin/``, for staff): namespaces, rooms, members, sanctions, the audit log
and messages. A message deleted here is deleted through the chat (``actions.do_delete`` as a
moderator), so connected clients see the delete and the store keeps its event stream whole.

Direct messages are private: the admin lists their metadata (room, id, sender, time, flags) but
never their text, and its search does not look into it. Reading one is a deliberate act, on a page
of its own (``<pk>/read-dm/``, a POST), and each reading is recorded in the audit log, which the
admin shows and never changes."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, F, QuerySet, TextField, Value, When
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from . import access, actions, moderation, namespaces
from .identity import Identity
from .models import AuditEntry, Membership, Message, Namespace, Room, RoomMember, Sanction
from .protocol import ProtocolError

# The audit action of a staff member reading a direct message in the admin. Not one of
# AuditEntry.Action: a new choice there would need a migration, and the column takes any string.
DM_READ = "dm_read"
# A message's change page, in this order.
MESSAGE_FIELDS = (
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
# The message fields that carry what a direct message says (the change page leaves them out).
DM_PRIVATE_FIELDS = frozenset({"body", "mentions", "reactions"})
# The message's text as the search sees it: nothing for a direct message.
SEARCHABLE_BODY = Case(
    When(room__namespace__name=access.DM_NAMESPACE, then=Value("")), default=F("body"), output_field=TextField()
)


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
    # Every value present, not only AuditEntry.Action's: the admin's own (DM_READ) is not a choice.
    list_filter = (("action", admin.AllValuesFieldListFilter), "namespace")
    search_fields = ("namespace__name", "actor", "target", "reason")

    # The log is what happened: staff may list and read it, nobody adds, changes or deletes an entry
    # here (which also keeps a namespace with entries from being deleted in the admin).
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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


def is_dm(message: Message) -> bool:
    """Whether ``message`` was sent in a direct-message room (its room, and the room's namespace,
    fetched with it)."""
    return message.room.namespace.name == access.DM_NAMESPACE


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("room", "seq", "sender", "short_body", "created_at", "edited", "deleted")
    list_filter = ("deleted", "edited")
    # "searchable_body" is the text with direct messages' left out (get_search_results).
    search_fields = ("room__address", "sender", "searchable_body")
    list_select_related = ("room__namespace",)
    # The store's columns are the chat's: edits and deletes go through the chat, not this form.
    readonly_fields = (*MESSAGE_FIELDS, "dm_text")
    actions = ["delete_through_chat_action"]

    @admin.display(description="text")
    def short_body(self, obj: Message) -> str:
        if is_dm(obj):
            return str(_("— direct message —"))
        return obj.body if len(obj.body) <= 80 else obj.body[:79] + "…"

    @admin.display(description=_("text"))
    def dm_text(self, obj: Message) -> str:
        """A direct message's change page: in place of its text, the way to the read page."""
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_read_dm", args=[obj.pk])
        return format_html(
            '{} <a href="{}">{}</a>', _("— direct message —"), url, _("Read this direct message (audited)…")
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        return super().get_queryset(request).select_related("room__namespace")

    def get_fields(self, request: HttpRequest, obj: Message | None = None) -> tuple[str, ...]:
        """A direct message's page shows its metadata only: what it says is on the read page."""
        if obj is not None and is_dm(obj):
            return (*(f for f in MESSAGE_FIELDS if f not in DM_PRIVATE_FIELDS), "dm_text")
        return MESSAGE_FIELDS

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Message], search_term: str
    ) -> tuple[QuerySet[Message], bool]:
        """Django's search, over the text of every message but direct messages (a search for
        something a DM says must not find it, nor tell that some DM says it)."""
        return super().get_search_results(request, queryset.alias(searchable_body=SEARCHABLE_BODY), search_term)

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        """No filter on the text in the list's query string (``?body__startswith=...`` on a DM room
        would tell its text letter by letter)."""
        if lookup.split("__", 1)[0] in (*DM_PRIVATE_FIELDS, "searchable_body"):
            return False
        return super().lookup_allowed(lookup, value, request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Read-only: a message changes through the chat only (a save here would write back the
        whole row as it was read, over an edit or a reaction made meanwhile)."""
        return False

    def get_urls(self) -> list[URLPattern]:
        read = path(
            "<path:object_id>/read-dm/",
            self.admin_site.admin_view(self.read_dm_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_read_dm",
        )
        return [read, *super().get_urls()]

    def read_dm_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Read a direct message: a GET asks for confirmation (and a reason), a POST (with its CSRF
        token, like every admin form) records the reading in the DM namespace's audit log and shows
        the text, in that response only. Another message's page has its text already."""
        message = self.get_object(request, object_id)
        if message is None:
            raise Http404(_("No such message."))
        if not self.has_view_permission(request, message):
            raise PermissionDenied
        change_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[message.pk])
        if not is_dm(message):
            return HttpResponseRedirect(change_url)
        shown = request.method == "POST"
        if shown:
            namespaces.audit(
                message.room.namespace,
                request.user.get_username(),
                DM_READ,
                f"message:{message.room.address}#{message.seq}",
                request.POST.get("reason", "").strip(),
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Read this direct message (audited)"),
            "message": message,
            "change_url": change_url,
            "labels": {
                "room": _("Room"),
                "seq": _("Id"),
                "sender": _("Sender"),
                "created_at": _("Sent"),
                "body": _("Text"),
                "mentions": _("Mentions"),
            },
            "shown": shown,
            "reactions": list(message.reactions.items()) if shown else [],
            "explanation": _(
                "Direct messages are private. Reading this one is recorded in the audit log, with your "
                "name and the reason you give."
            ),
            "reason_label": _("Reason:"),
            "recorded": _("This reading was recorded in the audit log."),
        }
        return TemplateResponse(request, "admin/chat/message/read_dm.html", context)

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
