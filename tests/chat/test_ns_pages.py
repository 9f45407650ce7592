"""The namespace pages, the DM page and the admin, through Django's test client: what each page
shows, who gets a 404 (hidden or missing, anonymous visitors included) or a 403 (a member on a
moderator's page), CSRF on every POST, and GETs that change nothing."""

from __future__ import annotations

import datetime
import json
import re
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.utils import timezone

from chat import access, namespaces, services
from chat.access import Caller
from chat.models import AuditEntry, Event, Invite, Membership, Message, Namespace, Room, RoomMember, Sanction

pytestmark = pytest.mark.django_db
# Pages that kick, ban, remove or change a policy call ``moderation`` (the database thread, whose
# calls close old connections): those tests commit for real.
committing = pytest.mark.django_db(transaction=True)


def make_user(prefix: str, **extra):
    # No password (hashing one costs a second): the tests log in with force_login.
    return get_user_model().objects.create_user(f"{prefix}_{uuid.uuid4().hex[:6]}", **extra)


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def caller(user) -> Caller:
    return Caller(user_id=user.pk, staff=user.is_staff)


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner():
    return make_user("owner")


@pytest.fixture
def mod():
    return make_user("mod")


@pytest.fixture
def member():
    return make_user("member")


@pytest.fixture
def outsider():
    return make_user("outsider")


@pytest.fixture
def space(owner, mod, member):
    """A members-only namespace with an owner, a moderator and a member."""
    ns = namespaces.ns_create(caller(owner), uniq("team"), {"visibility": "members"})
    namespaces.member_set(caller(owner), ns, mod.get_username(), "moderator")
    namespaces.member_set(caller(owner), ns, member.get_username(), "member")
    return ns.namespace


def ns_access(user, ns: Namespace):
    return access.access_namespace(caller(user), ns.name)


def config_of(html: str) -> dict:
    found = re.search(r'<script id="room-config" type="application/json">(.*?)</script>', html, re.S)
    assert found, html[:500]
    return json.loads(found.group(1))


# --- The namespace page --------------------------------------------------------------------------


def test_ns_page_lists_rooms_with_counts_for_a_member(space, owner, member):
    room = namespaces.room_create(caller(owner), ns_access(owner, space), "general", private=False)
    html = login(member).get(f"/ns/{space.name}/").content.decode()
    assert f'<tr data-room="{room.name}">' in html
    assert f'href="/ns/{space.name}/general/"' in html
    assert 'class="unread' in html and 'class="online' in html
    assert 'id="room-create"' in html  # members may create rooms (the default policy)
    assert 'id="audit-link"' not in html and 'id="settings-link"' not in html


def test_ns_page_links_moderation_pages_by_role(space, owner, mod):
    html = login(mod).get(f"/ns/{space.name}/").content.decode()
    assert 'id="members-link"' in html and 'id="audit-link"' in html and 'id="settings-link"' not in html
    html = login(owner).get(f"/ns/{space.name}/").content.decode()
    assert 'id="settings-link"' in html


@pytest.mark.parametrize(
    "path",
    [
        "/ns/{ns}/",
        "/ns/{ns}/general/",
        "/ns/{ns}/audit/",
        "/ns/{ns}/members/",
        "/ns/{ns}/settings/",
        "/ns/nonexistent-ns/",
        "/ns/nonexistent-ns/room/",
        "/ns/nonexistent-ns/audit/",
    ],
)
def test_hidden_namespace_is_404_to_outsiders_and_anonymous(space, owner, outsider, path):
    namespaces.room_create(caller(owner), ns_access(owner, space), "general", private=False)
    path = path.format(ns=space.name)
    assert login(outsider).get(path).status_code == 404
    assert Client().get(path).status_code == 404  # no login redirect: nothing tells it exists


def test_room_page_of_a_namespace_carries_its_websocket_path(space, member):
    html = login(member).get(f"/ns/{space.name}/lobby/").content.decode()
    config = config_of(html)
    assert config["ws"] == f"/ws/ns/{space.name}/lobby/"
    assert config["key"] == f"{space.name}/lobby"
    assert "kicked" in config["strings"] and "muted_until" in config["strings"]


def test_public_room_page_keeps_its_path(member):
    name = uniq("pub")
    config = config_of(login(member).get(f"/rooms/{name}/").content.decode())
    assert config["ws"] == f"/ws/rooms/{name}/"
    response = Client().get(f"/ns/public/{name}/")
    assert response.status_code == 302 and response["Location"] == f"/rooms/{name}/"


def test_room_creation_policy_moderators_only(space, owner, member, mod):
    ns = ns_access(owner, space)
    namespaces.ns_update(caller(owner), ns, {"room_creation": "moderators"})
    html = login(member).get(f"/ns/{space.name}/").content.decode()
    assert 'id="room-create"' not in html
    assert login(member).get(f"/ns/{space.name}/not-made-yet/").status_code == 404
    response = login(member).post(f"/ns/{space.name}/", {"room": "x1"})
    assert response.status_code == 403 and not Room.objects.filter(namespace=space, name="x1").exists()
    assert 'id="room-error"' not in response.content.decode()  # no form to show it at: members may not create
    response = login(mod).post(f"/ns/{space.name}/", {"room": "x2", "private": "1"})
    assert response.status_code == 302 and response["Location"] == f"/ns/{space.name}/x2/"
    assert Room.objects.get(namespace=space, name="x2").private


# --- Private rooms -------------------------------------------------------------------------------


def test_private_room_is_hidden_from_non_members_everywhere(space, owner, member, mod, outsider):
    ns = ns_access(member, space)
    secret = namespaces.room_create(caller(member), ns, "secret", private=True)
    other = make_user("other")
    namespaces.member_set(caller(owner), ns_access(owner, space), other.get_username(), "member")
    # its creator and the moderators see it; another member does not, nor anyone else
    assert 'data-room="secret"' in login(member).get(f"/ns/{space.name}/").content.decode()
    assert 'data-room="secret"' in login(mod).get(f"/ns/{space.name}/").content.decode()
    assert 'data-room="secret"' not in login(other).get(f"/ns/{space.name}/").content.decode()
    for who in (login(other), login(outsider), Client()):
        assert who.get(f"/ns/{space.name}/secret/").status_code == 404
        assert who.post(f"/ns/{space.name}/secret/members/", {"username": "x"}).status_code == 404
    # the room page's members form, for its creator
    html = login(member).get(f"/ns/{space.name}/secret/").content.decode()
    assert 'id="room-member-add"' in html
    response = login(member).post(f"/ns/{space.name}/secret/members/", {"username": other.get_username()})
    assert response.status_code == 302
    assert RoomMember.objects.filter(room=secret, user=other).exists()
    assert login(other).get(f"/ns/{space.name}/secret/").status_code == 200
    html = login(other).get(f"/ns/{space.name}/secret/").content.decode()
    assert 'id="room-member-add"' not in html  # a plain member of it does not manage it


def test_private_room_of_public_is_404_and_in_no_list(outsider, member):
    public = access.access_namespace(caller(member), "public")
    name = uniq("hush")
    namespaces.room_create(caller(member), public, name, private=True)
    assert login(member).get(f"/rooms/{name}/").status_code == 200
    for who in (login(outsider), Client()):
        assert who.get(f"/rooms/{name}/").status_code == 404
        assert name not in who.get("/").content.decode()
        assert name not in who.get("/rooms.json").content.decode()
    assert name not in login(member).get("/rooms.json").content.decode()


# --- Invites -------------------------------------------------------------------------------------


def test_join_page_get_changes_nothing_and_post_joins(space, owner, outsider):
    invite = namespaces.invite_create(caller(owner), ns_access(owner, space))
    url = namespaces.invite_url(invite)
    client = login(outsider)
    response = client.get(url)
    assert response.status_code == 200 and 'id="join-button"' in response.content.decode()
    assert not Membership.objects.filter(namespace=space, user=outsider).exists()
    assert Invite.objects.get(pk=invite.pk).uses == 0
    response = client.post(url)
    assert response.status_code == 302 and response["Location"] == f"/ns/{space.name}/"
    assert Membership.objects.get(namespace=space, user=outsider).role == "member"
    assert client.get(f"/ns/{space.name}/").status_code == 200


def test_join_page_for_anonymous_links_to_login(space, owner):
    invite = namespaces.invite_create(caller(owner), ns_access(owner, space))
    url = namespaces.invite_url(invite)
    html = Client().get(url).content.decode()
    assert 'id="join-login"' in html and "/accounts/login/?next=" in html
    response = Client().post(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_join_page_unknown_code_is_the_404_page_and_a_dead_link_says_why(space, owner, outsider):
    missing = login(outsider).get(f"/ns/{space.name}/join/nope/")
    hidden_or_missing = login(outsider).get("/ns/no-such-ns-at-all/join/nope/")
    assert missing.status_code == hidden_or_missing.status_code == 404

    def page(answer, ns):
        html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", answer.content.decode())
        return html.replace(ns, "NS")

    # The namespace exists (hidden) or not: one page.
    assert page(missing, space.name) == page(hidden_or_missing, "no-such-ns-at-all")
    ns = ns_access(owner, space)
    revoked = namespaces.invite_create(caller(owner), ns)
    namespaces.invite_revoke(caller(owner), ns, revoked.code)
    expired = namespaces.invite_create(caller(owner), ns, expires_in=1)
    Invite.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    used_up = namespaces.invite_create(caller(owner), ns, max_uses=1)
    namespaces.invite_redeem(caller(make_user("first")), space.name, used_up.code)
    for invite, state, words in (
        (revoked, "revoked", "was revoked"),
        (expired, "expired", "has expired"),
        (used_up, "used_up", "used as many times"),
    ):
        for method in ("get", "post"):
            answer = getattr(login(outsider), method)(namespaces.invite_url(invite))
            html = answer.content.decode()
            assert answer.status_code == 410 and f'data-state="{state}"' in html and words in html, (state, method)
    assert not Membership.objects.filter(namespace=space, user=outsider).exists()


# --- CSRF ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/ns/", {"name": "csrf-ns"}),
        ("/ns/{ns}/", {"room": "csrf-room"}),
        ("/ns/{ns}/members/", {"action": "add", "username": "x", "role": "member"}),
        ("/ns/{ns}/settings/", {"visibility": "open"}),
        ("/ns/{ns}/join/{code}/", {}),
        ("/ns/{ns}/secret/members/", {"username": "x"}),
    ],
)
def test_posts_need_the_csrf_token(space, owner, path, data):
    ns = ns_access(owner, space)
    namespaces.room_create(caller(owner), ns, "secret", private=True)
    invite = namespaces.invite_create(caller(owner), ns)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(path.format(ns=space.name, code=invite.code), data)
    assert response.status_code == 403
    assert not Namespace.objects.filter(name="csrf-ns").exists()
    assert not Room.objects.filter(name="csrf-room").exists()
    assert Namespace.objects.get(pk=space.pk).visibility == "members"


# --- Audit, members, settings ---------------------------------------------------------------------


def test_audit_page_by_role(space, owner, mod, member, outsider):
    namespaces.invite_create(caller(owner), ns_access(owner, space))
    for user in (owner, mod):
        response = login(user).get(f"/ns/{space.name}/audit/")
        assert response.status_code == 200
        assert 'data-action="invite_create"' in response.content.decode()
    assert login(member).get(f"/ns/{space.name}/audit/").status_code == 403
    assert login(outsider).get(f"/ns/{space.name}/audit/").status_code == 404
    assert Client().get(f"/ns/{space.name}/audit/").status_code == 404


@committing
def test_moderator_pages_are_403_to_members(space, mod, member):
    assert login(member).get(f"/ns/{space.name}/members/").status_code == 403
    assert login(member).post(f"/ns/{space.name}/members/", {"action": "ban", "username": "x"}).status_code == 403
    assert login(member).get(f"/ns/{space.name}/settings/").status_code == 403
    assert login(mod).get(f"/ns/{space.name}/settings/").status_code == 403  # owners only
    assert login(mod).get(f"/ns/{space.name}/members/").status_code == 200


@committing
def test_members_page_actions(space, owner, mod, member):
    client = login(owner)
    path = f"/ns/{space.name}/members/"
    newcomer = make_user("new")
    html = client.get(path).content.decode()
    assert f'data-user="{member.get_username()}" data-role="member"' in html

    def act(**data):
        response = client.post(path, data)
        if data["action"] in ("remove", "ban", "revoke"):  # asked first: nothing done yet
            assert response.status_code == 200 and 'id="confirm-form"' in response.content.decode()
            response = client.post(path, {**data, "confirm": "1"})
        assert response.status_code == 302, response.status_code
        return client.get(path).content.decode()

    act(action="add", username=newcomer.get_username(), role="member")
    assert Membership.objects.get(namespace=space, user=newcomer).role == "member"
    act(action="role", username=newcomer.get_username(), role="moderator")
    assert Membership.objects.get(namespace=space, user=newcomer).role == "moderator"
    act(action="remove", username=newcomer.get_username())
    assert not Membership.objects.filter(namespace=space, user=newcomer).exists()

    html = act(action="invite", max_uses="3")
    invite = Invite.objects.get(namespace=space)
    assert f"http://testserver/ns/{space.name}/join/{invite.code}/" in html
    act(action="revoke", code=invite.code)
    assert Invite.objects.get(pk=invite.pk).revoked

    html = act(action="mute", username=member.get_username(), seconds="600", reason="calm down")
    assert Sanction.objects.get(namespace=space, user=member, kind="mute").reason == "calm down"
    assert f'data-user="{member.get_username()}" data-kind="mute"' in html
    act(action="unmute", username=member.get_username())
    assert not Sanction.objects.filter(namespace=space, user=member).exists()
    act(action="ban", username=member.get_username(), seconds="", reason="spam")
    assert Sanction.objects.get(namespace=space, user=member, kind="ban").until is None
    act(action="unban", username=member.get_username())
    assert not Sanction.objects.filter(namespace=space, user=member).exists()

    namespaces.room_create(caller(owner), ns_access(owner, space), "hall", private=False)
    act(action="kick", username=member.get_username(), room="hall", reason="out")
    actions = list(AuditEntry.objects.filter(namespace=space).values_list("action", flat=True))
    for done in ("member_add", "role", "member_remove", "invite_create", "invite_revoke", "mute", "unmute"):
        assert done in actions
    for done in ("ban", "unban", "kick"):
        assert done in actions
    audit = client.get(f"/ns/{space.name}/audit/").content.decode()
    assert audit.count("<tr data-action=") == len(actions)


@committing
def test_members_page_refusals_are_shown_at_their_form_as_typed(space, mod, member):
    client = login(mod)
    path = f"/ns/{space.name}/members/"
    response = client.post(path, {"action": "role", "username": member.get_username(), "role": "owner"})
    assert response.status_code == 403 and 'id="members-error"' in response.content.decode()
    assert Membership.objects.get(namespace=space, user=member).role == "member"
    response = client.post(path, {"action": "mute", "username": "nobody-at-all", "duration": "3600", "reason": "why"})
    html = response.content.decode()
    assert response.status_code == 400 and 'id="sanction-error"' in html and "no account called" in html
    assert 'value="nobody-at-all"' in html and 'value="why"' in html  # what was typed is kept
    response = client.post(path, {"action": "mute", "username": member.get_username(), "duration": "custom"})
    assert response.status_code == 400 and 'id="sanction-error"' in response.content.decode()
    assert not Sanction.objects.filter(namespace=space, user=member).exists()
    assert client.post(path, {"action": "explode"}).status_code == 400
    # Moderation aims down: not at yourself (409), not at an owner (403), with the page's words.
    response = client.post(path, {"action": "mute", "username": mod.get_username(), "duration": "3600"})
    assert response.status_code == 409 and "yourself" in response.content.decode()
    owner = Membership.objects.get(namespace=space, role="owner").user.get_username()
    response = client.post(path, {"action": "mute", "username": owner, "duration": "3600"})
    assert response.status_code == 403 and "change their role first" in response.content.decode()
    assert not Sanction.objects.filter(namespace=space).exists()


@committing
def test_members_page_durations_are_picked(space, owner, member):
    client = login(owner)
    path = f"/ns/{space.name}/members/"
    started = timezone.now()
    name = member.get_username()
    picked = {"3600": 3600, "604800": 604800}
    for value, seconds in picked.items():
        assert client.post(path, {"action": "mute", "username": name, "duration": value}).status_code == 302
        until = Sanction.objects.get(namespace=space, user=member, kind="mute").until
        assert abs((until - started).total_seconds() - seconds) < 60
    custom = {"action": "mute", "username": name, "duration": "custom", "duration_amount": "3", "duration_unit": "days"}
    assert client.post(path, custom).status_code == 302
    until = Sanction.objects.get(namespace=space, user=member, kind="mute").until
    assert abs((until - started).total_seconds() - 3 * 86400) < 60
    assert client.post(path, {"action": "mute", "username": name, "duration": ""}).status_code == 302
    assert Sanction.objects.get(namespace=space, user=member, kind="mute").until is None
    assert client.post(path, {"action": "invite", "expires": "86400", "max_uses": "2"}).status_code == 302
    invite = Invite.objects.get(namespace=space)
    assert invite.max_uses == 2 and abs((invite.expires_at - started).total_seconds() - 86400) < 60


@committing
def test_members_page_offers_only_what_the_viewer_may_do(space, owner, mod, member):
    as_mod = login(mod).get(f"/ns/{space.name}/members/").content.decode()
    as_owner = login(owner).get(f"/ns/{space.name}/members/").content.decode()
    assert as_owner.count('class="inline role-form"') == 3 and 'class="inline role-form"' not in as_mod
    # A moderator may remove members (and leave), not owners or other moderators.
    removable = re.findall(r'<tr data-user="([^"]+)" data-role="[^"]+">(?:(?!</tr>).)*remove-form', as_mod, re.S)
    assert set(removable) == {member.get_username(), mod.get_username()}
    assert '<option value="owner"' not in as_mod.split('id="member-add"')[1].split("</form>")[0]
    # Ban is not dressed like mute.
    assert 'id="ban-button" class="danger"' in as_owner and 'id="mute-button" class="secondary-button"' in as_owner


@committing
def test_settings_page_changes_the_policy(space, owner):
    client = login(owner)
    path = f"/ns/{space.name}/settings/"
    assert 'id="settings-form"' in client.get(path).content.decode()
    response = client.post(
        path,
        {
            "visibility": "open",
            "room_creation": "moderators",
            "max_message_chars": "500",
            "rate_per_sec": "2.5",
            "history_on_join": "",
        },
    )
    assert response.status_code == 302
    row = Namespace.objects.get(pk=space.pk)
    assert (row.visibility, row.allow_guests, row.room_creation) == ("open", False, "moderators")
    assert (row.max_message_chars, row.rate_per_sec, row.history_on_join) == (500, 2.5, None)
    assert AuditEntry.objects.filter(namespace=space, action="policy").exists()
    response = client.post(
        path, {"visibility": "open", "room_creation": "members", "max_message_chars": "0", "rate_burst": "lots"}
    )
    html = response.content.decode()
    assert response.status_code == 400  # nothing saved, every error at its field, as typed
    assert 'id="max_message_chars-error"' in html and 'id="rate_burst-error"' in html
    assert 'value="lots"' in html and 'value="0"' in html
    assert Namespace.objects.get(pk=space.pk).max_message_chars == 500
    assert Namespace.objects.get(pk=space.pk).room_creation == "moderators"
    assert 'value="2.5"' in client.get(path).content.decode() and "10.0" not in client.get(path).content.decode()
    # open now: an outsider and an anonymous visitor see it
    assert Client().get(f"/ns/{space.name}/").status_code == 200


# --- The room list, namespaces and DMs ------------------------------------------------------------


def test_index_lists_visible_namespaces_and_creates_one(space, member, outsider):
    assert f'data-ns="{space.name}"' in login(member).get("/").content.decode()
    html = login(outsider).get("/").content.decode()
    assert f'data-ns="{space.name}"' not in html and 'id="ns-create"' in html
    name = uniq("club")
    response = login(outsider).post("/ns/", {"name": name, "visibility": "open"})
    assert response.status_code == 302 and response["Location"] == f"/ns/{name}/"
    assert Membership.objects.get(namespace__name=name, user=outsider).role == "owner"
    assert 'id="ns-create"' not in Client().get("/").content.decode()
    response = Client().post("/ns/", {"name": uniq("anon")})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@override_settings(PARLEY_NAMESPACE_CREATION_STAFF_ONLY=True)
def test_namespace_creation_staff_only(outsider):
    assert 'id="ns-create"' not in login(outsider).get("/").content.decode()
    name = uniq("nope")
    login(outsider).post("/ns/", {"name": name})
    assert not Namespace.objects.filter(name=name).exists()
    staff = make_user("staff", is_staff=True)
    assert 'id="ns-create"' in login(staff).get("/").content.decode()


def test_dm_page_and_list(member, outsider):
    response = Client().get(f"/dm/{member.get_username()}/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert login(outsider).get("/dm/no-such-user-here/").status_code == 404
    config = config_of(login(outsider).get(f"/dm/{member.get_username()}/").content.decode())
    assert config["ws"] == f"/ws/dm/{member.get_username()}/"
    room, _ = namespaces.dm_room(caller(outsider), member.get_username())
    services.apply_changes(
        [services.Post(room=room.room, sender=outsider.get_username(), body="hi", user_id=outsider.pk)]
    )
    html = login(member).get("/").content.decode()
    assert re.search(rf'<tr data-user="{outsider.get_username()}">.*?<td class="unread some">1</td>', html, re.S), html
    assert room.room.name not in html.split('id="dms"')[0]  # DMs are in no room list
    assert room.room.name not in login(member).get("/rooms.json").content.decode()
    assert login(member).get(f"/ns/{access.DM_NAMESPACE}/").status_code == 404


# --- The admin -----------------------------------------------------------------------------------


@committing
def test_admin_deletes_a_message_through_the_chat(member):
    staff = make_user("admin", is_staff=True, is_superuser=True)
    room = services.room_get_or_create(address=uniq("adm"))
    [outcome] = services.apply_changes(
        [services.Post(room=room, sender=member.get_username(), body="rude", user_id=member.pk)]
    )
    message = Message.objects.get(room=room, seq=outcome.seq)
    client = login(staff)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/chat/message/?q=rude").status_code == 200
    response = client.post(
        "/admin/chat/message/",
        {"action": "delete_through_chat_action", "_selected_action": [message.pk]},
    )
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.deleted and message.body == ""
    assert Event.objects.filter(room=room, kind="delete").count() == 1
    for model in ("namespace", "room", "membership", "roommember", "sanction", "auditentry"):
        assert client.get(f"/admin/chat/{model}/").status_code == 200, model


@committing
def test_admin_delete_view_goes_through_the_chat(member):
    staff = make_user("admin", is_staff=True, is_superuser=True)
    room = services.room_get_or_create(address=uniq("adm"))
    [outcome] = services.apply_changes(
        [services.Post(room=room, sender=member.get_username(), body="gone", user_id=member.pk)]
    )
    message = Message.objects.get(room=room, seq=outcome.seq)
    response = login(staff).post(f"/admin/chat/message/{message.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.deleted
    assert Event.objects.filter(room=room, kind="delete").count() == 1


def test_pages_in_korean(space, owner):
    client = login(owner)
    html = client.get(f"/ns/{space.name}/members/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "멤버와 관리" in html and "초대 링크 만들기" in html
    html = client.get(f"/ns/{space.name}/lobby/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    strings = config_of(html)["strings"]
    assert strings["banned"] == "이 네임스페이스에서 차단되었습니다."
    assert "감사 로그" in client.get(f"/ns/{space.name}/audit/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
