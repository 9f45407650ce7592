"""What the pages share: who is calling, the namespace if they may see it, rooms' URLs."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.urls import reverse

from chat import access, protocol
from chat.access import Caller, NsAccess
from chat.protocol import ProtocolError


def caller_of(request: HttpRequest) -> Caller:
    user = request.user
    if user.is_authenticated:
        return Caller(user_id=user.pk, staff=user.is_staff)
    return access.GUEST


def ns_or_404(caller: Caller, name: str) -> NsAccess:
    if name == access.DM_NAMESPACE:
        raise Http404("no such namespace")
    try:
        return access.access_namespace(caller, name)
    except ProtocolError:
        raise Http404("no such namespace") from None


def require_moderator(ns: NsAccess) -> None:
    """Owners and moderators pass; a member gets a 403, anyone else a 404."""
    if not ns.moderator:
        raise PermissionDenied if ns.role is not None else Http404("no such page")


def require_owner(ns: NsAccess) -> None:
    if not ns.owner:
        raise PermissionDenied if ns.role is not None else Http404("no such page")


def may_create_namespace(request: HttpRequest) -> bool:
    user = request.user
    return user.is_authenticated and (user.is_staff or not settings.PARLEY_NAMESPACE_CREATION_STAFF_ONLY)


def room_url(ns_name: str, name: str) -> str:
    """The page of room ``name`` of namespace ``ns_name``."""
    if ns_name == protocol.PUBLIC:
        return reverse("room", args=[name])
    return reverse("ns_room", args=[ns_name, name])
