"""The Django admin and direct messages, through Django's test client as staff would use it: the
admin lists a DM's metadata but never its text, its search does not look into it, reading one is a
POST on a page of its own that the audit log records, and the audit log is read-only."""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from chat import access, namespaces, services
from chat.access import Caller
from chat.models import AuditEntry, Message, Room

pytestmark = pytest.mark.django_db

PLACEHOLDER = "— direct message —"


def make_user(prefix: str, **extra):
    # No password (hashing one costs a second): the tests log in with force_login.
    return get_user_model().objects.create_user(f"{prefix}_{uuid.uuid4().hex[:6]}", **extra)


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def caller(user) -> Caller:
    return Caller(user_id=user.pk, staff=user.is_staff)


def login(user, **client_options) -> Client:
    client = Client(**client_options)
    client.force_login(user)
    return client


def post(room: Room, user, body: str, **extra) -> Message:
    [outcome] = services.apply_changes(
        [services.Post(room=room, sender=user.get_username(), body=body, user_id=user.pk, **extra)]
    )
    return Message.objects.get(room=room, seq=outcome.seq)


def change_url(message: Message) -> str:
    return f"/admin/chat/message/{message.pk}/change/"


def read_url(message: Message) -> str:
    return f"/admin/chat/message/{message.pk}/read-dm/"


def dm_reads() -> int:
    return AuditEntry.objects.filter(action="dm_read").count()


@pytest.fixture
def staff():
    return make_user("admin", is_staff=True, is_superuser=True)


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def bob():
    return make_user("bob")


@pytest.fixture
def secret():
    """What Alice tells Bob in private: no admin page may show it unless asked to."""
    return uniq("secret")


@pytest.fixture
def dm(alice, bob, secret) -> Message:
    """A direct message from Alice to Bob, sent as the chat sends one, mentioning someone and with
    a reaction (both private too)."""
    room, _ = namespaces.dm_room(caller(alice), bob.get_username())
    message = post(room.room, alice, f"{secret} between us", mentions=(uniq("mentioned"),))
    Message.objects.filter(pk=message.pk).update(reactions={"+1": [uniq("reactor")]})
    message.refresh_from_db()
    return message


@pytest.fixture
def public(alice) -> Message:
    """A message in a room of ``public``."""
    ns = access.access_namespace(caller(alice), "public")
    room = namespaces.room_create(caller(alice), ns, uniq("lobby"), private=False)
    return post(room, alice, f"{uniq('hello')} everyone")


def private_words(message: Message) -> list[str]:
    return [message.body.split()[0], *message.mentions, *(n for names in message.reactions.values() for n in names)]


def assert_hidden(html: str, message: Message) -> None:
    for word in private_words(message):
        assert word not in html, word


# --- The message list and its search -------------------------------------------------------------


def test_list_shows_a_dm_s_metadata_and_not_its_text(staff, dm, public):
    response = login(staff).get("/admin/chat/message/")
    assert response.status_code == 200
    html = response.content.decode()
    assert_hidden(html, dm)
    assert PLACEHOLDER in html
    assert change_url(dm) in html and dm.room.address in html and dm.sender in html
    assert public.body in html  # another room's text is listed as before


def test_search_does_not_look_into_dms(staff, dm, public, secret):
    client = login(staff)
    for q in (secret, f'"{secret} between"', "between us"):
        html = client.get("/admin/chat/message/", {"q": q}).content.decode()
        assert change_url(dm) not in html, q  # (the page repeats what was searched for, nothing else)
        assert re.search(r"\b0 results\b", html), q
    # the text of other rooms, and a DM's metadata, are searched as before
    assert change_url(public) in client.get("/admin/chat/message/", {"q": public.body.split()[0]}).content.decode()
    html = client.get("/admin/chat/message/", {"q": dm.room.address}).content.decode()
    assert change_url(dm) in html
    assert_hidden(html, dm)


@pytest.mark.parametrize("lookup", ["body__startswith", "body", "mentions__icontains", "reactions__has_key"])
def test_list_refuses_filters_on_the_text(staff, dm, secret, lookup):
    response = login(staff).get("/admin/chat/message/", {"room": dm.room_id, lookup: secret[:3]})
    assert response.status_code == 400
    assert secret not in response.content.decode()


# --- A DM's page and its read page ---------------------------------------------------------------


def test_change_page_of_a_dm_hides_its_text_and_links_the_read_page(staff, dm, public):
    client = login(staff)
    response = client.get(change_url(dm))
    assert response.status_code == 200
    html = response.content.decode()
    assert_hidden(html, dm)
    assert PLACEHOLDER in html and read_url(dm) in html
    assert dm.sender in html  # metadata stays
    html = client.get(change_url(public)).content.decode()
    assert public.body in html and read_url(public) not in html


def test_messages_are_read_only(staff, dm, public):
    client = login(staff)
    for message in (dm, public):
        html = client.get(change_url(message)).content.decode()
        assert 'name="_save"' not in html
        assert client.post(change_url(message), {"body": "changed"}).status_code == 403
        message.refresh_from_db()
        assert message.body != "changed"
    assert client.get("/admin/chat/message/add/").status_code == 403


def test_read_page_get_asks_and_shows_nothing(staff, dm):
    response = login(staff).get(read_url(dm))
    assert response.status_code == 200
    html = response.content.decode()
    assert_hidden(html, dm)
    assert 'method="post"' in html and 'name="csrfmiddlewaretoken"' in html and 'name="reason"' in html
    assert dm_reads() == 0


def test_read_page_post_shows_the_text_once_and_audits_it(staff, dm, secret):
    client = login(staff)
    response = client.post(read_url(dm), {"reason": "abuse report #12"})
    assert response.status_code == 200
    html = response.content.decode()
    assert secret in html
    for word in private_words(dm):
        assert word in html, word
    assert "no-store" in response["Cache-Control"]
    [entry] = AuditEntry.objects.filter(action="dm_read")
    assert entry.actor == staff.get_username()
    assert entry.namespace == namespaces.dm_namespace() and entry.namespace.name == access.DM_NAMESPACE
    assert entry.target == f"message:{dm.room.address}#{dm.seq}"
    assert entry.reason == "abuse report #12"
    # for that response only: the pages after it hide the text again
    assert_hidden(client.get(change_url(dm)).content.decode(), dm)
    assert_hidden(client.get(read_url(dm)).content.decode(), dm)
    assert dm_reads() == 1


def test_read_page_post_needs_the_csrf_token(staff, dm, secret):
    client = login(staff, enforce_csrf_checks=True)
    response = client.post(read_url(dm), {"reason": "no token"})
    assert response.status_code == 403
    assert secret not in response.content.decode()
    assert dm_reads() == 0
    client.get(read_url(dm))  # sets the CSRF cookie, as a browser would
    token = client.cookies["csrftoken"].value
    response = client.post(read_url(dm), {"csrfmiddlewaretoken": token})
    assert response.status_code == 200 and secret in response.content.decode()
    assert dm_reads() == 1


def test_read_page_of_another_room_s_message_goes_to_its_page(staff, public):
    response = login(staff).post(read_url(public))
    assert response.status_code == 302 and response["Location"] == change_url(public)
    assert dm_reads() == 0
    assert login(staff).get("/admin/chat/message/999999999/read-dm/").status_code == 404


def test_nobody_else_reaches_any_of_it(dm, alice, bob, secret):
    for client in (Client(), login(alice), login(bob)):  # the sender and the recipient are not staff
        for method, url in (
            ("get", "/admin/chat/message/"),
            ("get", change_url(dm)),
            ("get", read_url(dm)),
            ("post", read_url(dm)),
            ("get", "/admin/chat/auditentry/"),
        ):
            response = getattr(client, method)(url)
            assert response.status_code == 302, (method, url)
            assert response["Location"].startswith("/admin/login/"), (method, url)
            assert secret not in response.content.decode()
    # staff without the permission to view messages
    plain = login(make_user("helpdesk", is_staff=True))
    assert plain.get("/admin/chat/message/").status_code == 403
    assert plain.get(read_url(dm)).status_code == 403
    response = plain.post(read_url(dm))
    assert response.status_code == 403 and secret not in response.content.decode()
    assert dm_reads() == 0


def test_staff_with_the_view_permission_may_read_with_an_audit(dm, secret):
    viewer = make_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_message", content_type__app_label="chat"))
    client = login(viewer)
    assert_hidden(client.get(change_url(dm)).content.decode(), dm)
    assert secret in client.post(read_url(dm)).content.decode()
    assert AuditEntry.objects.get(action="dm_read").actor == viewer.get_username()


# --- Rooms ---------------------------------------------------------------------------------------


def test_room_pages_show_a_dm_room_s_metadata_only(staff, dm):
    client = login(staff)
    html = client.get("/admin/chat/room/").content.decode()
    assert dm.room.address in html
    assert_hidden(html, dm)
    response = client.get(f"/admin/chat/room/{dm.room_id}/change/")
    assert response.status_code == 200
    assert_hidden(response.content.decode(), dm)


# --- The audit log -------------------------------------------------------------------------------


@pytest.fixture
def entry(staff, dm) -> AuditEntry:
    login(staff).post(read_url(dm), {"reason": "a report"})
    return AuditEntry.objects.get(action="dm_read")


def test_audit_log_is_listed_and_shown(staff, entry):
    client = login(staff)
    response = client.get("/admin/chat/auditentry/")
    assert response.status_code == 200
    assert entry.target in response.content.decode()
    html = client.get("/admin/chat/auditentry/", {"action": "dm_read"}).content.decode()
    assert entry.target in html and "?action=dm_read" in html  # the action filter offers it
    response = client.get(f"/admin/chat/auditentry/{entry.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert entry.target in html and 'name="_save"' not in html and f"/{entry.pk}/delete/" not in html


def test_audit_log_is_read_only(staff, entry):
    client = login(staff)
    assert client.get("/admin/chat/auditentry/add/").status_code == 403
    response = client.post("/admin/chat/auditentry/add/", {"actor": "x", "action": "ban", "namespace": 1})
    assert response.status_code == 403
    response = client.post(
        f"/admin/chat/auditentry/{entry.pk}/change/",
        {"actor": "someone else", "action": "ban", "namespace": entry.namespace_id, "target": "", "reason": ""},
    )
    assert response.status_code == 403
    assert client.get(f"/admin/chat/auditentry/{entry.pk}/delete/").status_code == 403
    assert client.post(f"/admin/chat/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    html = client.get("/admin/chat/auditentry/").content.decode()
    assert "delete_selected" not in html
    client.post("/admin/chat/auditentry/", {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"})
    entry.refresh_from_db()
    assert entry.actor == staff.get_username() and entry.action == "dm_read"
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
