"""Notification levels (``GET``/``PUT .../notifications``) and the frames they shape (``mention``'s
``url`` and ``notify``, the ``dm`` frame), against a live server on this run's backend."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.api.client import User, new_user, request, room_path
from tests.servers import Server, ServerFarm, scaled_configuration

TIMEOUT = 10


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    farm = ServerFarm(tmp=tmp_path_factory.mktemp("notify"), scaled=scaled_configuration())
    try:
        yield farm.start()
    finally:
        farm.close()


@pytest.fixture(scope="module")
def people(live: Server) -> dict[str, User]:
    """kim and lee talk; park is an outsider of what they share."""
    return {role: new_user(live.http) for role in ("kim", "lee", "park")}


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def call(live: Server, user: User | None, method: str, path: str, body: Any = None, **kw: Any):
    return request(live.http, method, path, body, token=user.token if user else None, **kw)


def ok(live: Server, user: User, method: str, path: str, body: Any = None) -> Any:
    answer = call(live, user, method, path, body)
    assert answer.status in (200, 201), (method, path, answer.status, answer.text)
    return answer.json


def post(live: Server, user: User, room: str, text: str) -> dict[str, Any]:
    return ok(live, user, "POST", f"/api/v1/rooms/{room_path(room)}/messages", {"message": text})


def levels(room: str) -> str:
    return f"/api/v1/rooms/{room_path(room)}/notifications"


# --- WebSocket ------------------------------------------------------------------------------------


def ws(live: Server, path: str, user: User | None) -> ClientConnection:
    headers = {"Authorization": f"Bearer {user.token}"} if user else None
    return connect(live.ws + path, additional_headers=headers, open_timeout=TIMEOUT, proxy=None, max_queue=None)


def native(room: str) -> str:
    return f"/ws/rooms/{urllib.parse.quote(room, safe='')}/"


def recv(conn: ClientConnection) -> dict[str, Any]:
    return json.loads(conn.recv(timeout=TIMEOUT))


def until(conn: ClientConnection, kind: str) -> dict[str, Any]:
    while (frame := recv(conn))["type"] != kind:
        pass
    return frame


def joined(conn: ClientConnection) -> ClientConnection:
    until(conn, "presence")
    return conn


def quiet_until_pong(conn: ClientConnection, *kinds: str) -> None:
    """A ping's pong comes after everything sent to the connection before it: none of ``kinds``."""
    conn.send(json.dumps({"type": "ping"}))
    while (frame := recv(conn))["type"] != "pong":
        assert frame["type"] not in kinds, frame


# --- Levels over the API --------------------------------------------------------------------------


def test_a_room_s_level_defaults_to_mentions_and_is_kept_per_user(live, people):
    kim, lee = people["kim"], people["lee"]
    room = name("알림")
    post(live, kim, room, "방 만들기")
    assert ok(live, kim, "GET", levels(room)) == {"level": "mentions"}
    for level in ("all", "none", "mentions", "none"):
        assert ok(live, kim, "PUT", levels(room), {"level": level}) == {"level": level}
        assert ok(live, kim, "GET", levels(room)) == {"level": level}
    assert ok(live, lee, "GET", levels(room)) == {"level": "mentions"}  # kim's choice is kim's
    # The same room through its namespace's path.
    assert ok(live, kim, "GET", f"/api/v1/ns/public/rooms/{room_path(room)}/notifications") == {"level": "none"}
    # A room that does not exist: a GET or PUT makes none.
    missing = levels(name("없는방"))
    assert call(live, kim, "GET", missing).status == 404
    assert call(live, kim, "PUT", missing, {"level": "all"}).status == 404


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"level": "loud"}, "invalid_frame"),
        ({"level": "ALL"}, "invalid_frame"),
        ({"level": ""}, "invalid_frame"),
        ({"level": 1}, "invalid_frame"),
        ({"level": None}, "invalid_frame"),
        ({"level": ["all"]}, "invalid_frame"),
        ({}, "invalid_frame"),
        ({"level": "all", "extra": 1}, "invalid_frame"),
        (["all"], "invalid_frame"),
    ],
)
def test_a_bad_level_is_refused(live, people, body, code):
    kim = people["kim"]
    room = name("bad")
    post(live, kim, room, "x")
    answer = call(live, kim, "PUT", levels(room), body)
    assert (answer.status, answer.code) == (400, code), answer.text
    assert ok(live, kim, "GET", levels(room)) == {"level": "mentions"}  # unchanged


def test_bad_json_and_credentials(live, people):
    kim = people["kim"]
    room = name("creds")
    post(live, kim, room, "x")
    answer = call(live, kim, "PUT", levels(room), raw=b"{level: all}")
    assert (answer.status, answer.code) == (400, "invalid_json")
    for method, body in (("GET", None), ("PUT", {"level": "none"})):
        answer = call(live, None, method, levels(room), body)  # a guest: no account, no API
        assert (answer.status, answer.code) == (401, "unauthenticated"), answer.text
        bad = request(live.http, method, levels(room), body, token="parley_" + "x" * 43)
        assert bad.status == 401
    # A browser's session: a write needs the CSRF header.
    session = kim.browser
    assert session.api("GET", levels(room), csrf=False).json == {"level": "mentions"}
    refused = session.api("PUT", levels(room), {"level": "all"}, csrf=False)
    assert (refused.status, refused.code) == (403, "forbidden")
    assert session.api("PUT", levels(room), {"level": "all"}).json == {"level": "all"}


def test_namespaces_private_rooms_and_outsiders(live, people):
    kim, lee, park = people["kim"], people["lee"], people["park"]
    ns = name("cs")
    ok(live, kim, "POST", "/api/v1/ns", {"name": ns, "visibility": "members"})
    ok(live, kim, "POST", f"/api/v1/ns/{ns}/members", {"username": lee.name})
    room, secret = "강의실", "비밀방"
    ok(live, kim, "POST", f"/api/v1/ns/{ns}/rooms", {"name": room})
    ok(live, kim, "POST", f"/api/v1/ns/{ns}/rooms", {"name": secret, "private": True})
    path = f"/api/v1/ns/{ns}/rooms/{room_path(room)}/notifications"
    secret_path = f"/api/v1/ns/{ns}/rooms/{room_path(secret)}/notifications"
    assert ok(live, lee, "GET", path) == {"level": "mentions"}
    assert ok(live, lee, "PUT", path, {"level": "all"}) == {"level": "all"}
    assert ok(live, lee, "GET", path) == {"level": "all"}
    assert ok(live, kim, "GET", path) == {"level": "mentions"}
    assert ok(live, kim, "PUT", secret_path, {"level": "none"}) == {"level": "none"}
    # An outsider of the members-only namespace, a member outside the private room: 404, as for
    # what does not exist.
    for who, where in ((park, path), (park, secret_path), (lee, secret_path)):
        for method, body in (("GET", None), ("PUT", {"level": "all"})):
            answer = call(live, who, method, where, body)
            assert (answer.status, answer.code) == (404, "not_found"), (who.name, where, answer.text)
    ok(live, kim, "POST", f"/api/v1/ns/{ns}/rooms/{room_path(secret)}/members", {"username": lee.name})
    assert ok(live, lee, "GET", secret_path) == {"level": "mentions"}


def test_a_direct_message_s_level_defaults_to_all(live, people):
    kim, lee = people["kim"], people["lee"]
    path = f"/api/v1/dm/{lee.name}/notifications"
    assert ok(live, kim, "GET", path) == {"level": "all"}
    assert ok(live, kim, "PUT", path, {"level": "mentions"}) == {"level": "mentions"}
    assert ok(live, kim, "GET", path) == {"level": "mentions"}
    assert ok(live, lee, "GET", f"/api/v1/dm/{kim.name}/notifications") == {"level": "all"}  # lee's own
    assert call(live, kim, "PUT", path, {"level": "some"}).code == "invalid_frame"
    nobody = call(live, kim, "GET", f"/api/v1/dm/{name('nobody')}/notifications")
    assert (nobody.status, nobody.code) == (404, "not_found")
    assert call(live, None, "GET", path).status == 401


# --- The frames -----------------------------------------------------------------------------------


def test_a_mention_reaches_every_native_connection_with_url_and_notify(live, people):
    kim, lee = people["kim"], people["lee"]
    elsewhere, room = name("다른방"), name("공지")
    post(live, kim, room, "방")
    with ws(live, native(elsewhere), lee) as lee_ws, ws(live, native(room), kim) as kim_ws:
        joined(lee_ws)
        joined(kim_ws)
        sent = post(live, kim, room, f"@{lee.name} 회의 10시")
        mention = until(lee_ws, "mention")
        assert mention == {
            "type": "mention",
            "room": room,
            "id": sent["id"],
            "sender": kim.name,
            "message": f"@{lee.name} 회의 10시",
            "url": f"/rooms/{urllib.parse.quote(room)}/#m{sent['id']}",
            "notify": True,
        }
        # At level "all" too; at "none" the frame still comes (a badge), without a notification.
        for level, notify in (("all", True), ("none", False), ("mentions", True)):
            ok(live, lee, "PUT", levels(room), {"level": level})
            sent = post(live, kim, room, f"@{lee.name} {level}")
            mention = until(lee_ws, "mention")
            assert (mention["id"], mention["notify"]) == (sent["id"], notify)
        # The author mentioning themself is told nothing; nor is anyone when no one is mentioned.
        post(live, kim, room, f"@{kim.name} 메모")
        quiet_until_pong(kim_ws, "mention", "dm")


def test_a_mention_in_a_namespace_room_links_there_and_spares_outsiders(live, people):
    kim, lee, park = people["kim"], people["lee"], people["park"]
    ns = name("ns")
    ok(live, kim, "POST", "/api/v1/ns", {"name": ns})
    secret = "비밀"
    ok(live, kim, "POST", f"/api/v1/ns/{ns}/rooms", {"name": secret, "private": True})
    ok(live, kim, "POST", f"/api/v1/ns/{ns}/rooms/{room_path(secret)}/members", {"username": lee.name})
    with ws(live, native(name("lobby")), lee) as lee_ws, ws(live, native(name("lobby")), park) as park_ws:
        joined(lee_ws)
        joined(park_ws)
        path = f"/api/v1/ns/{ns}/rooms/{room_path(secret)}/messages"
        sent = ok(live, kim, "POST", path, {"message": f"@{lee.name} @{park.name} 비밀이야"})
        mention = until(lee_ws, "mention")
        assert mention["url"] == f"/ns/{ns}/{urllib.parse.quote(secret)}/#m{sent['id']}"
        assert (mention["room"], mention["notify"]) == (secret, True)
        quiet_until_pong(park_ws, "mention")  # park may not read the room: not told of it


def test_a_direct_message_tells_the_other_member_everywhere(live, people):
    kim, lee = people["kim"], people["lee"]
    somewhere = name("어딘가")
    dm = f"/api/v1/dm/{lee.name}/messages"
    ok(live, lee, "PUT", f"/api/v1/dm/{kim.name}/notifications", {"level": "all"})
    ok(live, kim, "PUT", f"/api/v1/dm/{lee.name}/notifications", {"level": "all"})
    quoted = urllib.parse.quote(somewhere, safe="")
    with (
        ws(live, native(somewhere), lee) as lee_ws,
        ws(live, native(somewhere), kim) as kim_ws,
        ws(live, f"/chat/{quoted}", lee) as lee_seed,
        ws(live, f"/ws/chat/{quoted}/", lee) as lee_tutorial,
    ):
        joined(lee_ws)
        joined(kim_ws)
        sent = ok(live, kim, "POST", dm, {"message": "과제 질문이요"})
        assert until(lee_ws, "dm") == {
            "type": "dm",
            "id": sent["id"],
            "sender": kim.name,
            "message": "과제 질문이요",
            "url": f"/dm/{kim.name}/#m{sent['id']}",
            "notify": True,
        }
        # At "none", nothing notifies; at "mentions", a direct message that mentions the reader does
        # (its dm frame and, like any mention, its mention frame), and one that does not, does not.
        ok(live, lee, "PUT", f"/api/v1/dm/{kim.name}/notifications", {"level": "none"})
        sent = ok(live, kim, "POST", dm, {"message": "조용히"})
        frame = until(lee_ws, "dm")
        assert (frame["id"], frame["notify"]) == (sent["id"], False)
        sent = ok(live, kim, "POST", dm, {"message": f"@{lee.name} 조용히"})
        mention, frame = until(lee_ws, "mention"), until(lee_ws, "dm")
        assert (mention["id"], mention["notify"], mention["url"]) == (
            sent["id"],
            False,
            f"/dm/{kim.name}/#m{sent['id']}",
        )
        assert (frame["id"], frame["notify"]) == (sent["id"], False)
        ok(live, lee, "PUT", f"/api/v1/dm/{kim.name}/notifications", {"level": "mentions"})
        sent = ok(live, kim, "POST", dm, {"message": "그냥 말"})
        frame = until(lee_ws, "dm")
        assert (frame["id"], frame["notify"]) == (sent["id"], False)
        sent = ok(live, kim, "POST", dm, {"message": f"@{lee.name} 이건 봐줘"})
        mention, frame = until(lee_ws, "mention"), until(lee_ws, "dm")
        assert (mention["id"], mention["notify"], frame["id"], frame["notify"]) == (sent["id"], True, sent["id"], True)
        # The sender hears no dm frame of their own.
        quiet_until_pong(kim_ws, "dm", "mention")
        # The seed's and the tutorial's doors get none of these: their next frame is the room's message.
        said = post(live, kim, somewhere, "다음")
        for door in (lee_seed, lee_tutorial):
            frame = recv(door)
            assert (frame["type"], frame["id"]) == ("message", said["id"]), frame
        # And over the native DM door itself, the reply comes back as a dm frame to kim.
        with ws(live, f"/ws/dm/{kim.name}/", lee) as lee_dm:
            joined(lee_dm)
            lee_dm.send(json.dumps({"message": "답장"}))
            answer = until(kim_ws, "dm")
            assert (answer["sender"], answer["url"]) == (lee.name, f"/dm/{lee.name}/#m{answer['id']}")
            assert answer["notify"] is True  # kim's level for the DM: all
