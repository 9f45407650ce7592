"""Pages through Django's test client: the room list, the room page, guest names, accounts, CSRF, Korean."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from chat.identity import GUEST_NAME_SESSION_KEY
from chat.models import Room

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def user():
    return get_user_model().objects.create_user("ada", password=PASSWORD)


def room_url(name: str) -> str:
    return reverse("room", args=[name])


# --- The room list ---------------------------------------------------------------------------------


def test_index_lists_rooms_newest_activity_first(client):
    # Unique names: in the scaled run online counts come from Redis, which other processes share.
    tag = uuid.uuid4().hex[:8]
    now = dt.datetime.now(dt.UTC)
    for name, minutes_ago in ((f"old-{tag}", 30), (f"자유게시판-{tag}", 1), (f"middle-{tag}", 10)):
        room = Room.objects.create(name=name)
        Room.objects.filter(pk=room.pk).update(last_activity=now - dt.timedelta(minutes=minutes_ago))
    response = client.get("/")
    assert response.status_code == 200
    listed = re.findall(r'<tr data-room="([^"]+)"', response.content.decode())
    assert listed == [f"자유게시판-{tag}", f"middle-{tag}", f"old-{tag}"]
    assert [item["online"] for item in response.context["rooms"]] == [0, 0, 0]


def test_index_with_no_rooms_invites_to_create_one(client):
    assert "No rooms yet" in client.get("/").content.decode()


def test_joining_a_room_by_name_redirects_to_it(client):
    response = client.post("/", {"room": " 자유게시판 "})
    assert response.status_code == 302
    assert response["Location"] == "/rooms/" + quote("자유게시판") + "/"


@pytest.mark.parametrize("name", ["a b", "../etc", "..", "x" * 65, "<script>", ""])
def test_an_invalid_room_name_is_refused_with_a_clear_message(client, name):
    response = client.post("/", {"room": name})
    assert response.status_code == 400
    text = response.content.decode()
    assert 'role="alert"' in text
    assert ("cannot be a room name" in text) or ("Type a room name" in text)
    assert "<script>" not in text.split("<main", 1)[1]  # escaped, not markup


def test_the_room_page_refuses_an_invalid_name(client):
    response = client.get("/rooms/a%20b/")
    assert response.status_code == 400
    assert "cannot be a room name" in response.content.decode()


# --- The room page and guest names -----------------------------------------------------------------


def test_a_new_visitor_is_asked_for_a_display_name(client):
    response = client.get(room_url("자유게시판"))
    assert response.status_code == 200
    assert 'id="guest-form"' in response.content.decode()
    assert "room-config" not in response.content.decode()  # no socket before a name


def test_a_guest_name_is_kept_in_the_session_and_the_room_opens(client):
    response = client.post(reverse("guest_name", args=["자유게시판"]), {"name": "  민준  "})
    assert response.status_code == 302
    assert response["Location"] == room_url("자유게시판")
    assert client.session[GUEST_NAME_SESSION_KEY] == "민준"
    page = client.get(room_url("자유게시판"))
    assert page.status_code == 200
    assert 'id="room-config"' in page.content.decode()
    assert page.context["you"] == "민준"
    # The name can be changed on request.
    assert 'id="guest-form"' in client.get(room_url("자유게시판") + "?change-name=1").content.decode()


def test_a_guest_cannot_take_a_registered_name_in_any_case(client, user):
    response = client.post(reverse("guest_name", args=["lobby"]), {"name": "ADA"})
    assert response.status_code == 400
    assert "registered user" in response.content.decode()
    assert GUEST_NAME_SESSION_KEY not in client.session
    # "Log in" on that page comes back to the room, not to the form's POST-only address.
    assert 'href="/accounts/login/?next=/rooms/lobby/" id="login-link"' in response.content.decode()


@pytest.mark.parametrize("name", ["", "   ", "x" * 33, "zero\u200bwidth"])
def test_a_malformed_guest_name_is_refused(client, name):
    response = client.post(reverse("guest_name", args=["lobby"]), {"name": name})
    assert response.status_code == 400
    assert "Choose a name of 1 to 32 characters" in response.content.decode()
    assert f'value="{name}"' in response.content.decode() or not name.strip()  # as typed


def test_a_control_character_in_a_name_is_the_400_page_naming_the_field(client):
    response = client.post(reverse("guest_name", args=["lobby"]), {"name": "bell\x07"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="error-page"' in html and "The field “name” holds a control character (U+0007)." in html
    assert GUEST_NAME_SESSION_KEY not in client.session


def test_a_guest_whose_name_was_registered_since_chooses_again(client):
    client.post(reverse("guest_name", args=["lobby"]), {"name": "grace"})
    get_user_model().objects.create_user("grace", password=PASSWORD)
    response = client.get(room_url("lobby"))
    assert 'id="guest-form"' in response.content.decode()
    assert "registered user" in response.content.decode()
    assert GUEST_NAME_SESSION_KEY not in client.session


def test_a_logged_in_user_goes_straight_into_the_room(client, user):
    client.force_login(user)
    page = client.get(room_url("lobby"))
    assert 'id="room-config"' in page.content.decode()
    assert page.context["you"] == "ada"


def test_without_guests_an_anonymous_visitor_is_asked_to_log_in(client, settings):
    settings.PARLEY_ALLOW_GUESTS = False
    page = client.get(room_url("lobby"))
    assert page.status_code == 200
    assert 'id="login-required"' in page.content.decode()
    assert "room-config" not in page.content.decode()
    assert client.post(reverse("guest_name", args=["lobby"]), {"name": "grace"}).status_code == 403


def test_the_room_config_is_json_not_markup(client):
    client.post(reverse("guest_name", args=["lobby"]), {"name": "</script><b>x"})
    text = client.get(room_url("lobby")).content.decode()
    assert "</script><b>x" not in text  # escaped in the HTML and in json_script


# --- Accounts --------------------------------------------------------------------------------------


def test_sign_up_creates_the_user_logs_in_and_goes_back(client):
    response = client.post(
        reverse("signup") + "?next=/rooms/lobby/",
        {"username": "lin", "password1": PASSWORD, "password2": PASSWORD, "next": "/rooms/lobby/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/rooms/lobby/"
    assert get_user_model().objects.filter(username="lin").exists()
    assert client.get("/").context["user"].get_username() == "lin"


@pytest.mark.parametrize("password", ["1234", "12345678", "password", "parleyuser1"])
def test_sign_up_applies_the_password_validators(client, password):
    """Too short, numeric, common, too like the username: each refused."""
    data = {"username": "parleyuser", "password1": password, "password2": password}
    response = client.post(reverse("signup"), data)
    assert response.status_code == 400
    assert response.context["form"].errors["password2"]
    assert not get_user_model().objects.filter(username="parleyuser").exists()


def test_sign_up_refuses_a_taken_name_in_another_case(client, user):
    response = client.post(reverse("signup"), {"username": "Ada", "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 400
    assert response.context["form"].errors["username"]


def test_sign_up_ignores_a_next_on_another_site(client):
    response = client.post(
        reverse("signup"),
        {"username": "lin", "password1": PASSWORD, "password2": PASSWORD, "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_log_in_and_log_out(client, user):
    page = client.get(reverse("login"))
    assert page.status_code == 200 and 'id="login-form"' in page.content.decode()
    bad = client.post(reverse("login"), {"username": "ada", "password": "nope"})
    assert bad.status_code == 200 and bad.context["form"].errors
    response = client.post(reverse("login") + "?next=/rooms/lobby/", {"username": "ada", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/rooms/lobby/"
    assert "Signed in as" in client.get("/").content.decode()
    assert client.get(reverse("logout")).status_code == 405  # logging out takes a POST
    assert client.post(reverse("logout")).status_code == 302
    assert client.get("/").context["user"].is_anonymous


# --- CSRF and translation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "form_page, path, data",
    [
        ("/", "/", {"room": "lobby"}),
        ("/rooms/lobby/", "/rooms/lobby/name/", {"name": "grace"}),
        ("/accounts/signup/", "/accounts/signup/", {"username": "lin", "password1": PASSWORD, "password2": PASSWORD}),
        ("/accounts/login/", "/accounts/login/", {"username": "ada", "password": PASSWORD}),
        ("/", "/accounts/logout/", {}),
        ("/", "/i18n/setlang/", {"language": "ko"}),
    ],
)
def test_every_form_needs_the_csrf_token(user, form_page, path, data):
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(path, data).status_code == 403
    token = strict.get(form_page).cookies["csrftoken"].value
    assert strict.post(path, {**data, "csrfmiddlewaretoken": token}).status_code in (200, 302)


def test_pages_are_translated_to_korean(client):
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="ko")
    text = page.content.decode()
    assert '<html lang="ko">' in text
    assert "방 목록" in text
    client.post(reverse("guest_name", args=["lobby"]), {"name": "민준"})
    room = client.get(room_url("lobby"), HTTP_ACCEPT_LANGUAGE="ko")
    assert room.context["config"]["strings"]["live"] == "연결됨"
    assert "보내기" in room.content.decode()


def test_the_language_switch(client):
    response = client.post(reverse("set_language"), {"language": "ko", "next": "/"})
    assert response.status_code == 302
    assert "방 목록" in client.get("/").content.decode()
