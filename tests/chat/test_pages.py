"""The Mentions page, the room list's unread counts and /rooms.json, through Django's test client."""

from __future__ import annotations

import re
import urllib.parse
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from chat import selectors, services
from chat.models import Room

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple 42"


def make_user(name: str):
    return get_user_model().objects.create_user(name, password=PASSWORD)


@pytest.fixture
def ada():
    return make_user(f"ada_{uuid.uuid4().hex[:6]}")


@pytest.fixture
def bob():
    return make_user(f"bob_{uuid.uuid4().hex[:6]}")


def new_room(prefix: str = "방") -> Room:
    return services.room_get_or_create(address=f"{prefix}-{uuid.uuid4().hex[:8]}")


def post(room: Room, sender, body: str, *, mention=None) -> int:
    """Store a message (from a user, or a guest named ``sender``) and return its id."""
    user_id, name = (None, sender) if isinstance(sender, str) else (sender.pk, sender.get_username())
    change = services.Post(
        room=room,
        sender=name,
        body=body,
        user_id=user_id,
        mentions=(mention.get_username(),) if mention else (),
        notify=(mention.pk,) if mention else (),
    )
    [outcome] = services.apply_changes([change])
    assert isinstance(outcome, services.Outcome), outcome
    return outcome.seq


def delete(room: Room, target: int, by) -> None:
    [outcome] = services.apply_changes(
        [services.Delete(room=room, target=target, by=by.get_username(), user_id=by.pk, moderator=by.is_staff)]
    )
    assert isinstance(outcome, services.Outcome), outcome


def edit(room: Room, target: int, by, body: str) -> None:
    [outcome] = services.apply_changes(
        [services.Edit(room=room, target=target, body=body, sender=by.get_username(), user_id=by.pk)]
    )
    assert isinstance(outcome, services.Outcome), outcome


def read(user, room: Room, up_to: int) -> None:
    services.read_cursor_move(user_id=user.pk, room_id=room.pk, up_to=up_to)


def rows(html: str) -> dict[str, str]:
    """Room name -> the unread cell's text, from the room list page."""
    found = re.findall(r'<tr data-room="([^"]+)">.*?<td class="unread[^"]*">(\d+)</td>', html, re.S)
    return dict(found)


# --- The Mentions page ---------------------------------------------------------------------------


def test_mentions_page_lists_my_mentions_newest_first_with_links(client, ada, bob):
    one, two = new_room("수학"), new_room("science")
    first = post(one, bob, f"@{ada.get_username()} homework?", mention=ada)
    post(one, bob, "no mention here")
    second = post(two, "grace", f"hi @{ada.get_username()} <b>bold</b>", mention=ada)
    post(two, ada, f"@{bob.get_username()} a mention of bob", mention=bob)  # not ada's

    client.force_login(ada)
    response = client.get("/mentions/")
    assert response.status_code == 200
    html = response.content.decode()
    items = re.findall(r'<li class="mention[^"]*" data-room="([^"]+)" data-id="(\d+)">', html)
    assert items == [(two.name, str(second)), (one.name, str(first))]
    assert f'href="{reverse("room", args=[two.name])}#m{second}"' in html
    assert f'href="{reverse("room", args=[one.name])}#m{first}"' in html
    assert "homework?" in html and "grace" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html  # the text is escaped, not markup
    assert "a mention of bob" not in html
    assert 'id="mentions-link"' in html  # the header links to the page

    client.force_login(bob)
    html = client.get("/mentions/").content.decode()
    assert "a mention of bob" in html and "homework?" not in html


def test_mentions_page_shows_messages_as_they_are_now(client, ada, bob):
    room = new_room()
    gone = post(room, bob, f"@{ada.get_username()} secret", mention=ada)
    fixed = post(room, bob, f"@{ada.get_username()} tpyo", mention=ada)
    delete(room, gone, bob)
    edit(room, fixed, bob, f"@{ada.get_username()} typo fixed")

    client.force_login(ada)
    html = client.get("/mentions/").content.decode()
    assert "secret" not in html
    assert re.search(
        rf'class="mention deleted" data-room="{room.name}" data-id="{gone}">.*?Message deleted', html, re.S
    )
    assert "typo fixed" in html and "tpyo" not in html
    assert "(edited)" in html


def test_mentions_page_without_mentions_says_so(client, ada):
    client.force_login(ada)
    html = client.get("/mentions/").content.decode()
    assert 'id="no-mentions"' in html
    assert f"@{ada.get_username()}" in html


def test_mentions_page_keeps_the_newest(client, ada, bob, monkeypatch):
    monkeypatch.setattr("chat.views.rooms.MENTIONS_SHOWN", 3)
    room = new_room()
    ids = [post(room, bob, f"@{ada.get_username()} {i}", mention=ada) for i in range(5)]
    client.force_login(ada)
    html = client.get("/mentions/").content.decode()
    shown = [int(i) for i in re.findall(r'data-id="(\d+)"', html)]
    assert shown == ids[:1:-1]


def test_anonymous_visitors_are_sent_to_log_in_for_mentions(client):
    response = client.get("/mentions/")
    assert response.status_code == 302
    assert response["Location"] == reverse("login") + "?next=/mentions/"
    assert 'id="mentions-link"' not in client.get("/").content.decode()


def test_mentions_selector_reads_a_fixed_number_of_queries(ada, bob):
    rooms = [new_room() for _ in range(4)]
    for room in rooms:
        for _ in range(3):
            post(room, bob, "@ada", mention=ada)
    with CaptureQueriesContext(connection) as queries:
        items = selectors.mentions_recent(user_id=ada.pk, limit=100)
    assert len(items) == 12
    assert len(queries) == 2


# --- The room list's unread counts ----------------------------------------------------------------


def test_room_list_shows_unread_counts_of_others_messages_after_the_cursor(client, ada, bob):
    room, quiet = new_room("unread"), new_room("quiet")
    post(room, bob, "1")
    own = post(room, ada, "2 (mine)")
    gone = post(room, "guest", "3 (deleted)")
    post(room, "guest", "4")
    post(quiet, ada, "only mine")
    delete(room, gone, make_superuser())

    client.force_login(ada)
    counts = rows(client.get("/").content.decode())
    # bob's 1 and the guest's 4; not ada's own, not the deleted one (nor the delete event).
    assert counts[room.name] == "2"
    assert counts[quiet.name] == "0"
    assert selectors.unread_count(user_id=ada.pk, room_id=room.pk) == 2

    read(ada, room, own)  # read up to her own message: bob's 1 is read
    assert rows(client.get("/").content.decode())[room.name] == "1"
    post(room, bob, "5")
    assert rows(client.get("/").content.decode())[room.name] == "2"
    read(ada, room, 10_000)  # clamped to the last id: all read
    assert rows(client.get("/").content.decode())[room.name] == "0"

    client.force_login(bob)  # his own messages do not count for him; ada's and the guest's do
    assert rows(client.get("/").content.decode())[room.name] == "2"


def test_room_list_without_login_shows_no_unread_column(client, bob):
    room = new_room()
    post(room, bob, "hello")
    html = client.get("/").content.decode()
    assert f'data-room="{room.name}"' in html
    assert 'class="unread' not in html
    assert re.search(r'<script type="module" src="/static/chat/rooms(\.[0-9a-f]+)?\.js"></script>', html)
    assert re.search(r'id="rooms" data-src="/rooms.json" data-refresh="5(\.0)?"', html)


def test_unread_counts_match_unread_count_in_a_fixed_number_of_queries(ada, bob):
    rooms = [new_room() for _ in range(6)]
    for i, room in enumerate(rooms):
        for j in range(i):
            post(room, bob if j % 2 else "guest", f"{j}")
        post(room, ada, "mine")
        if i % 2:
            read(ada, room, 1)
    ids = [room.pk for room in rooms]
    with CaptureQueriesContext(connection) as queries:
        counts = selectors.unread_counts(user_id=ada.pk, room_ids=ids)
    assert len(queries) == 2
    expected = {room.pk: selectors.unread_count(user_id=ada.pk, room_id=room.pk) for room in rooms}
    assert {pk: counts.get(pk, 0) for pk in ids} == expected
    assert sum(expected.values()) > 0 and 0 not in counts.values()
    assert selectors.unread_counts(user_id=ada.pk, room_ids=[]) == {}


def test_index_reads_a_fixed_number_of_queries_however_many_rooms(client, ada, bob):
    client.force_login(ada)

    def queries_for_index() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/").status_code == 200
        return len(queries)

    post(new_room(), bob, "x")
    few = queries_for_index()
    for _ in range(5):
        post(new_room(), bob, "x")
    assert queries_for_index() == few


# --- /rooms.json -------------------------------------------------------------------------------------


def test_rooms_json_gives_the_lists_figures(client, ada, bob):
    room = new_room("json")
    post(room, bob, "1")
    post(room, bob, "2")
    mine = post(room, ada, "3")
    client.force_login(ada)
    response = client.get("/rooms.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    listed = {r["name"]: r for r in response.json()["rooms"]}
    url = f"/rooms/{urllib.parse.quote(room.name)}/"
    assert listed[room.name] == {"name": room.name, "url": url, "unread": 2, "online": 0, "last_id": mine}
    page = rows(client.get("/").content.decode())
    assert {name: str(r["unread"]) for name, r in listed.items()} == page

    read(ada, room, 1)
    assert {r["name"]: r["unread"] for r in client.get("/rooms.json").json()["rooms"]}[room.name] == 1
    names = [r["name"] for r in client.get("/rooms.json").json()["rooms"]]
    assert names == re.findall(r'<tr data-room="([^"]+)"', client.get("/").content.decode())


def test_rooms_json_gives_anonymous_visitors_no_unread(client, bob):
    room = new_room()
    post(room, bob, "1")
    listed = {r["name"]: r for r in client.get("/rooms.json").json()["rooms"]}
    assert listed[room.name] == {
        "name": room.name,
        "url": f"/rooms/{urllib.parse.quote(room.name)}/",
        "unread": None,
        "online": 0,
        "last_id": 1,
    }


def test_rooms_json_is_read_only(client):
    assert client.post("/rooms.json").status_code == 405


def make_superuser():
    return get_user_model().objects.create_user(f"mod_{uuid.uuid4().hex[:6]}", password=PASSWORD, is_staff=True)


def test_the_new_words_are_in_korean(client, ada, bob):
    room = new_room()
    post(room, bob, f"@{ada.get_username()} 안녕", mention=ada)
    client.force_login(ada)
    index = client.get("/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert ">읽지 않음</th>" in index
    assert ">멘션</a>" in index
    page = client.get("/mentions/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert f"누군가 @{ada.get_username()} 님을 언급한 메시지입니다. 최신순으로 최근 100개까지" in page
    client.force_login(bob)
    empty = client.get("/mentions/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "아직 회원님을 언급한 사람이 없습니다." in empty
