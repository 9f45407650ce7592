"""The namespace routes of /api/v1 against a live server: namespaces and their policy, members and
roles, invites, rooms (public and private) and their members, kicks, mutes, bans, the audit log and
direct messages; the room routes under /ns/<ns>/rooms; and who gets 404 and who 403: an outsider
(404 for everything of a namespace or room they may not see), a member (403 without the role,
before whether the target exists), a moderator, an owner, a banned account (403 everywhere in the
namespace) and a muted one (403 `muted` with `until` on posts)."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from chat import policy
from tests.api.client import User, new_user, request, room_path
from tests.wsclient import close_code, connect

NS_KEYS = {"name", *policy.FIELDS, "role"}


@pytest.fixture(scope="module")
def srv(module_farm):
    """A server without the write budget: these tests write a lot as one user."""
    return module_farm.start(PARLEY_RATE_PER_SEC="0")


def call(srv: Any, user: User, method: str, path: str, body: Any = None, **kw: Any):
    return request(srv.http, method, "/api/v1" + path, body, token=user.token, **kw)


def fresh(prefix: str = "ns") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Team:
    ns: str
    owner: User
    mod: User
    member: User
    outsider: User


@pytest.fixture(scope="module")
def people(srv):
    return [new_user(srv.http) for _ in range(4)]


def make_team(srv: Any, people: list[User], visibility: str = "members") -> Team:
    owner, mod, member, outsider = people
    ns = fresh()
    made = call(srv, owner, "POST", "/ns", {"name": ns, "visibility": visibility})
    assert made.status == 201, made.text
    assert call(srv, owner, "POST", f"/ns/{ns}/members", {"username": mod.name, "role": "moderator"}).status == 201
    assert call(srv, owner, "POST", f"/ns/{ns}/members", {"username": member.name, "role": "member"}).status == 201
    return Team(ns=ns, owner=owner, mod=mod, member=member, outsider=outsider)


@pytest.fixture
def team(srv, people) -> Team:
    """A fresh `members` namespace: an owner, a moderator, a member, and an outsider."""
    return make_team(srv, people)


@pytest.fixture
def open_team(srv, people) -> Team:
    return make_team(srv, people, visibility="open")


def msgs(ns: str, room: str) -> str:
    return f"/ns/{ns}/rooms/{room_path(room)}/messages"


def status_code(answer: Any) -> tuple[int, str | None]:
    return answer.status, (answer.code if answer.status >= 400 else None)


# --- Namespaces ------------------------------------------------------------------------------------


def test_create_get_list_and_patch_a_namespace(srv, people):
    owner, outsider = people[0], people[3]
    ns = fresh()
    body = {"name": ns, "visibility": "members", "allow_guests": False, "room_creation": "members"}
    made = call(srv, owner, "POST", "/ns", body)
    assert made.status == 201
    assert set(made.json) == NS_KEYS
    assert made.json["name"] == ns and made.json["role"] == "owner"
    assert made.json["visibility"] == "members" and made.json["allow_guests"] is False
    assert made.json["max_message_chars"] == 4000  # the server's setting

    assert status_code(call(srv, owner, "POST", "/ns", {"name": ns})) == (409, "conflict")
    assert status_code(call(srv, owner, "POST", "/ns", {"name": "no/slash"})) == (400, "invalid_room")
    assert status_code(call(srv, owner, "POST", "/ns", {"name": fresh(), "visibility": "secret"})) == (
        400,
        "invalid_frame",
    )

    listed = call(srv, owner, "GET", "/ns")
    assert listed.status == 200
    names = [n["name"] for n in listed.json["namespaces"]]
    assert names[0] == "public" and ns in names
    assert all(set(n) == NS_KEYS for n in listed.json["namespaces"])
    assert next(n for n in listed.json["namespaces"] if n["name"] == "public")["role"] is None
    # An outsider neither sees it listed nor gets it: 404, like a namespace that does not exist.
    assert ns not in [n["name"] for n in call(srv, outsider, "GET", "/ns").json["namespaces"]]
    assert status_code(call(srv, outsider, "GET", f"/ns/{ns}")) == (404, "not_found")
    assert status_code(call(srv, outsider, "GET", f"/ns/{fresh()}")) == (404, "not_found")

    got = call(srv, owner, "GET", f"/ns/{ns}")
    assert got.status == 200 and got.json == made.json

    patched = call(srv, owner, "PATCH", f"/ns/{ns}", {"max_message_chars": 10, "edit_window": 0, "visibility": "open"})
    assert patched.status == 200
    assert patched.json == {**made.json, "max_message_chars": 10, "edit_window": 0, "visibility": "open"}
    # Now open: the outsider sees it, as a non-member (role null).
    assert call(srv, outsider, "GET", f"/ns/{ns}").json["role"] is None
    for bad in (
        {"max_message_chars": 0},
        {"visibility": "secret"},
        {"visibility": None},  # an override may be null (the server's setting); the others may not
        {"rate_burst": "5"},
        {"rate_burst": 5.5},
        {"colour": "red"},
    ):
        assert status_code(call(srv, owner, "PATCH", f"/ns/{ns}", bad)) == (400, "invalid_frame"), bad
    reset = call(srv, owner, "PATCH", f"/ns/{ns}", {"max_message_chars": None})
    assert reset.status == 200 and reset.json["max_message_chars"] == 4000
    assert call(srv, owner, "PATCH", f"/ns/{ns}", {}).json == reset.json


def test_only_owners_patch_policy(srv, team):
    for who in (team.mod, team.member):
        assert status_code(call(srv, who, "PATCH", f"/ns/{team.ns}", {"edit_window": 5})) == (403, "forbidden")
    assert status_code(call(srv, team.outsider, "PATCH", f"/ns/{team.ns}", {"edit_window": 5})) == (404, "not_found")
    assert call(srv, team.member, "GET", f"/ns/{team.ns}").json["role"] == "member"
    assert call(srv, team.mod, "GET", f"/ns/{team.ns}").json["role"] == "moderator"


# --- Members and roles ---------------------------------------------------------------------------


def test_members_and_roles(srv, team):
    path = f"/ns/{team.ns}/members"
    listed = call(srv, team.member, "GET", path)
    assert listed.status == 200
    assert {(m["username"], m["role"]) for m in listed.json["members"]} == {
        (team.owner.name, "owner"),
        (team.mod.name, "moderator"),
        (team.member.name, "member"),
    }
    assert status_code(call(srv, team.outsider, "GET", path)) == (404, "not_found")

    newcomer = new_user(srv.http)
    # Members may not add; moderators add members only; owners grant and change roles.
    assert status_code(call(srv, team.member, "POST", path, {"username": newcomer.name, "role": "member"})) == (
        403,
        "forbidden",
    )
    assert status_code(call(srv, team.mod, "POST", path, {"username": newcomer.name, "role": "moderator"})) == (
        403,
        "forbidden",
    )
    added = call(srv, team.mod, "POST", path, {"username": newcomer.name, "role": "member"})
    assert added.status == 201 and added.json == {"username": newcomer.name, "role": "member"}
    changed = call(srv, team.owner, "POST", path, {"username": newcomer.name, "role": "moderator"})
    assert changed.status == 200 and changed.json == {"username": newcomer.name, "role": "moderator"}
    assert status_code(call(srv, team.owner, "POST", path, {"username": "nobody-" + uuid.uuid4().hex[:8]})) == (
        404,
        "not_found",
    )
    assert status_code(call(srv, team.owner, "POST", path, {"username": newcomer.name, "role": "king"})) == (
        400,
        "invalid_frame",
    )

    # 403 before whether the target exists.
    assert status_code(call(srv, team.member, "DELETE", f"{path}/nobody")) == (403, "forbidden")
    assert status_code(call(srv, team.member, "DELETE", f"{path}/{team.owner.name}")) == (403, "forbidden")
    assert status_code(call(srv, team.mod, "DELETE", f"{path}/nobody")) == (404, "not_found")
    assert status_code(call(srv, team.mod, "DELETE", f"{path}/{team.owner.name}")) == (403, "forbidden")
    assert status_code(call(srv, team.outsider, "DELETE", f"{path}/{team.member.name}")) == (404, "not_found")
    # The last owner cannot leave.
    assert status_code(call(srv, team.owner, "DELETE", f"{path}/{team.owner.name}")) == (409, "conflict")

    gone = call(srv, team.owner, "DELETE", f"{path}/{newcomer.name}")
    assert gone.status == 204 and gone.text == ""
    # A member may leave; then the namespace is hidden from them.
    assert call(srv, team.member, "DELETE", f"{path}/{team.member.name}").status == 204
    assert status_code(call(srv, team.member, "GET", f"/ns/{team.ns}")) == (404, "not_found")


# --- Invites ---------------------------------------------------------------------------------------


def test_invites_and_join(srv, team):
    path = f"/ns/{team.ns}/invites"
    made = call(srv, team.mod, "POST", path, {"max_uses": 1})
    assert made.status == 201
    code = made.json["code"]
    assert made.json == {"code": code, "url": f"/ns/{team.ns}/join/{code}/"}

    joiner = new_user(srv.http)
    assert status_code(call(srv, joiner, "GET", f"/ns/{team.ns}")) == (404, "not_found")
    wrong = call(srv, joiner, "POST", f"/ns/{team.ns}/join", {"code": "not-a-code"})
    assert status_code(wrong) == (404, "not_found")
    # The right code in another namespace's path is no good either.
    assert status_code(call(srv, joiner, "POST", f"/ns/{fresh()}/join", {"code": code})) == (404, "not_found")
    joined = call(srv, joiner, "POST", f"/ns/{team.ns}/join", {"code": code})
    assert joined.status == 200 and joined.json["name"] == team.ns and joined.json["role"] == "member"
    assert set(joined.json) == NS_KEYS
    assert call(srv, joiner, "GET", f"/ns/{team.ns}").status == 200
    # A member joining again with a good code: nothing changes, no use counted.
    reusable = call(srv, team.owner, "POST", path, {"max_uses": 2}).json["code"]
    assert call(srv, team.member, "POST", f"/ns/{team.ns}/join", {"code": reusable}).json["role"] == "member"
    # Used up for the next one.
    late = new_user(srv.http)
    assert status_code(call(srv, late, "POST", f"/ns/{team.ns}/join", {"code": code})) == (404, "not_found")

    # Revoked.
    revoked = call(srv, team.owner, "POST", path, {}).json["code"]
    assert call(srv, team.owner, "DELETE", f"{path}/{revoked}").status == 204
    assert status_code(call(srv, team.owner, "DELETE", f"{path}/{revoked}")) == (404, "not_found")
    assert status_code(call(srv, late, "POST", f"/ns/{team.ns}/join", {"code": revoked})) == (404, "not_found")

    # Expired.
    short = call(srv, team.owner, "POST", path, {"expires_in": 1}).json["code"]
    time.sleep(1.2)
    assert status_code(call(srv, late, "POST", f"/ns/{team.ns}/join", {"code": short})) == (404, "not_found")

    # Members may not make or revoke invites (403, even for a code that does not exist); outsiders: 404.
    assert status_code(call(srv, team.member, "POST", path, {})) == (403, "forbidden")
    assert status_code(call(srv, team.member, "DELETE", f"{path}/nothing")) == (403, "forbidden")
    assert status_code(call(srv, late, "POST", path, {})) == (404, "not_found")
    assert status_code(call(srv, team.owner, "POST", path, {"max_uses": 0})) == (400, "invalid_frame")


# --- Rooms of a namespace ------------------------------------------------------------------------


def test_room_routes_in_a_namespace(srv, team):
    room = "회의실"
    posted = call(srv, team.member, "POST", msgs(team.ns, room), {"message": "안녕"})
    assert posted.status == 201, posted.text
    first = posted.json
    assert first["room"] == room and first["sender"] == team.member.name

    listed = call(srv, team.member, "GET", f"/ns/{team.ns}/rooms")
    assert listed.status == 200 and [r["name"] for r in listed.json["rooms"]] == [room]
    assert set(listed.json["rooms"][0]) == {"name", "last_id", "last_activity", "online", "unread"}
    # The public room list is public's alone.
    assert room not in [r["name"] for r in call(srv, team.member, "GET", "/rooms").json["rooms"]]

    page = call(srv, team.mod, "GET", msgs(team.ns, room))
    assert page.status == 200 and [m["message"] for m in page.json["messages"]] == ["안녕"]
    events = call(srv, team.mod, "GET", msgs(team.ns, room) + "?after=0")
    assert events.status == 200 and [e["id"] for e in events.json["events"]] == [first["id"]]

    one = f"{msgs(team.ns, room)}/{first['id']}"
    edited = call(srv, team.member, "PATCH", one, {"message": "안녕하세요"})
    assert edited.status == 200 and edited.json["message"] == "안녕하세요" and edited.json["edited"]
    assert status_code(call(srv, team.mod, "PATCH", one, {"message": "x"})) == (403, "forbidden")
    reacted = call(srv, team.mod, "POST", f"{one}/reactions", {"emoji": "👍", "op": "add"})
    assert reacted.status == 200 and reacted.json["reactions"]
    reply = call(srv, team.owner, "POST", msgs(team.ns, room), {"message": "reply", "reply_to": first["id"]}).json
    thread = call(srv, team.member, "GET", f"{one}/thread")
    assert thread.status == 200 and [m["id"] for m in thread.json["messages"]] == [reply["id"]]
    read = call(srv, team.member, "POST", f"/ns/{team.ns}/rooms/{room_path(room)}/read", {"up_to": reply["id"]})
    assert read.status == 200 and read.json == {"up_to": reply["id"]}

    # A member may not delete another's message; a moderator may.
    assert status_code(call(srv, team.member, "DELETE", f"{msgs(team.ns, room)}/{reply['id']}")) == (403, "forbidden")
    assert call(srv, team.mod, "DELETE", one).status == 204

    # An outsider: 404 for every room route, the room existing or not.
    for method, path, body in (
        ("GET", f"/ns/{team.ns}/rooms", None),
        ("GET", msgs(team.ns, room), None),
        ("POST", msgs(team.ns, room), {"message": "hi"}),
        ("POST", msgs(team.ns, "elsewhere"), {"message": "hi"}),
        ("PATCH", f"{msgs(team.ns, room)}/{reply['id']}", {"message": "x"}),
        ("DELETE", f"{msgs(team.ns, room)}/{reply['id']}", None),
        ("POST", f"{msgs(team.ns, room)}/{reply['id']}/reactions", {"emoji": "👍", "op": "add"}),
        ("GET", f"{msgs(team.ns, room)}/{reply['id']}/thread", None),
        ("POST", f"/ns/{team.ns}/rooms/{room_path(room)}/read", {"up_to": 1}),
    ):
        assert status_code(call(srv, team.outsider, method, path, body)) == (404, "not_found"), (method, path)
    # A room that does not exist: 404 to a GET (no room is made).
    assert status_code(call(srv, team.member, "GET", msgs(team.ns, "nothing-here"))) == (404, "not_found")


def test_policy_applies_to_room_routes(srv, team):
    room = "limits"
    assert call(srv, team.owner, "PATCH", f"/ns/{team.ns}", {"max_message_chars": 5, "edit_window": 1}).status == 200
    assert status_code(call(srv, team.member, "POST", msgs(team.ns, room), {"message": "123456"})) == (
        413,
        "too_large",
    )
    made = call(srv, team.member, "POST", msgs(team.ns, room), {"message": "12345"})
    assert made.status == 201
    time.sleep(1.2)
    late = call(srv, team.member, "PATCH", f"{msgs(team.ns, room)}/{made.json['id']}", {"message": "abc"})
    assert status_code(late) == (403, "too_late")


def test_room_creation_policy(srv, team):
    assert call(srv, team.owner, "PATCH", f"/ns/{team.ns}", {"room_creation": "moderators"}).status == 200
    # A member may not make a room, by posting or by the rooms route: 404 and 403.
    assert status_code(call(srv, team.member, "POST", msgs(team.ns, "new-one"), {"message": "hi"})) == (
        404,
        "not_found",
    )
    assert status_code(call(srv, team.member, "POST", f"/ns/{team.ns}/rooms", {"name": "new-one"})) == (
        403,
        "forbidden",
    )
    made = call(srv, team.mod, "POST", f"/ns/{team.ns}/rooms", {"name": "new-one", "private": False})
    assert made.status == 201 and made.json == {"name": "new-one", "private": False}
    assert status_code(call(srv, team.mod, "POST", f"/ns/{team.ns}/rooms", {"name": "new-one"})) == (409, "conflict")
    assert status_code(call(srv, team.mod, "POST", f"/ns/{team.ns}/rooms", {"name": "a b"})) == (400, "invalid_room")
    # Now it exists, members post in it.
    assert call(srv, team.member, "POST", msgs(team.ns, "new-one"), {"message": "hi"}).status == 201
    assert status_code(call(srv, team.outsider, "POST", f"/ns/{team.ns}/rooms", {"name": "x"})) == (404, "not_found")


def test_private_rooms_and_their_members(srv, team):
    other = new_user(srv.http)
    assert call(srv, team.owner, "POST", f"/ns/{team.ns}/members", {"username": other.name}).status == 201
    made = call(srv, team.member, "POST", f"/ns/{team.ns}/rooms", {"name": "secret", "private": True})
    assert made.status == 201 and made.json == {"name": "secret", "private": True}
    assert call(srv, team.member, "POST", msgs(team.ns, "secret"), {"message": "psst"}).status == 201

    # Another member of the namespace: not in the list, 404 on every route, and posting to the name
    # (they may create rooms) does not hand them the private room.
    assert "secret" not in [r["name"] for r in call(srv, other, "GET", f"/ns/{team.ns}/rooms").json["rooms"]]
    assert status_code(call(srv, other, "GET", msgs(team.ns, "secret"))) == (404, "not_found")
    assert status_code(call(srv, other, "POST", msgs(team.ns, "secret"), {"message": "hi"})) == (404, "not_found")
    members = f"/ns/{team.ns}/rooms/secret/members"
    assert status_code(call(srv, other, "POST", members, {"username": other.name})) == (404, "not_found")
    # The namespace's moderators see it.
    assert call(srv, team.mod, "GET", msgs(team.ns, "secret")).status == 200
    assert "secret" in [r["name"] for r in call(srv, team.mod, "GET", f"/ns/{team.ns}/rooms").json["rooms"]]

    # Its creator adds them (again: 200).
    added = call(srv, team.member, "POST", members, {"username": other.name})
    assert added.status == 201 and added.json == {"username": other.name}
    assert call(srv, team.member, "POST", members, {"username": other.name}).status == 200
    page = call(srv, other, "GET", msgs(team.ns, "secret"))
    assert page.status == 200 and [m["message"] for m in page.json["messages"]] == ["psst"]
    # A member of the room who did not create it may not manage it (403 before the target's existence).
    assert status_code(call(srv, other, "POST", members, {"username": team.owner.name})) == (403, "forbidden")
    assert status_code(call(srv, other, "DELETE", f"{members}/{team.member.name}")) == (403, "forbidden")
    assert status_code(call(srv, other, "DELETE", f"{members}/nobody")) == (403, "forbidden")
    assert status_code(call(srv, team.member, "DELETE", f"{members}/nobody")) == (404, "not_found")
    assert status_code(call(srv, team.member, "POST", members, {"username": "nobody-" + uuid.uuid4().hex})) == (
        404,
        "not_found",
    )

    assert call(srv, team.member, "DELETE", f"{members}/{other.name}").status == 204
    assert status_code(call(srv, other, "GET", msgs(team.ns, "secret"))) == (404, "not_found")
    # A public room has no members: the request conflicts with what the room is.
    call(srv, team.member, "POST", msgs(team.ns, "plain"), {"message": "hi"})
    assert status_code(
        call(srv, team.member, "POST", f"/ns/{team.ns}/rooms/plain/members", {"username": other.name})
    ) == (409, "conflict")


# --- Kicks, mutes, bans, the audit log -------------------------------------------------------------


def test_kick(srv, team):
    room = "kicks"
    assert call(srv, team.member, "POST", msgs(team.ns, room), {"message": "hi"}).status == 201
    kick = f"/ns/{team.ns}/rooms/{room}/kick"

    async def kicked() -> int | None:
        url = f"{srv.ws}/ws/ns/{team.ns}/{room}/"
        ws = await connect(url, additional_headers={"Authorization": f"Bearer {team.member.token}"})
        await ws.recv()  # hello: joined
        answer = await asyncio.to_thread(call, srv, team.mod, "POST", kick, {"username": team.member.name})
        assert answer.status == 200 and answer.json == {"username": team.member.name, "guest": None}
        return await close_code(ws)

    assert asyncio.run(kicked()) == 4410
    assert call(srv, team.mod, "POST", kick, {"guest": "visitor"}).json == {"username": None, "guest": "visitor"}
    assert status_code(call(srv, team.mod, "POST", kick, {})) == (400, "invalid_frame")
    assert status_code(call(srv, team.mod, "POST", kick, {"username": "a", "guest": "b"})) == (400, "invalid_frame")
    assert status_code(call(srv, team.mod, "POST", kick, {"username": "nobody-" + uuid.uuid4().hex})) == (
        404,
        "not_found",
    )
    # A member: 403, the room existing or not; a moderator, in a room that does not exist: 404.
    assert status_code(call(srv, team.member, "POST", kick, {"username": team.mod.name})) == (403, "forbidden")
    missing = f"/ns/{team.ns}/rooms/missing/kick"
    assert status_code(call(srv, team.member, "POST", missing, {"username": team.mod.name})) == (403, "forbidden")
    assert status_code(call(srv, team.mod, "POST", missing, {"username": team.member.name})) == (404, "not_found")
    assert status_code(call(srv, team.outsider, "POST", kick, {"username": team.member.name})) == (404, "not_found")


def test_mute(srv, team):
    room = "mutes"
    assert call(srv, team.member, "POST", msgs(team.ns, room), {"message": "before"}).status == 201
    muted = call(srv, team.mod, "POST", f"/ns/{team.ns}/mutes", {"username": team.member.name, "seconds": 600})
    assert muted.status == 201
    assert muted.json["username"] == team.member.name and muted.json["kind"] == "mute"
    assert muted.json["until"].endswith("Z") and muted.json["reason"] == ""

    refused = call(srv, team.member, "POST", msgs(team.ns, room), {"message": "let me speak"})
    assert status_code(refused) == (403, "muted")
    assert refused.json["error"]["until"] == muted.json["until"]
    # Reading still works.
    assert call(srv, team.member, "GET", msgs(team.ns, room)).status == 200

    # Until lifted: until null.
    forever = call(srv, team.mod, "POST", f"/ns/{team.ns}/mutes", {"username": team.member.name, "reason": "spam"})
    assert forever.status == 201 and forever.json["until"] is None and forever.json["reason"] == "spam"
    refused = call(srv, team.member, "POST", msgs(team.ns, room), {"message": "please"})
    assert status_code(refused) == (403, "muted") and refused.json["error"]["until"] is None

    lifted = call(srv, team.mod, "DELETE", f"/ns/{team.ns}/mutes/{team.member.name}")
    assert lifted.status == 204
    assert call(srv, team.member, "POST", msgs(team.ns, room), {"message": "thanks"}).status == 201
    assert status_code(call(srv, team.mod, "DELETE", f"/ns/{team.ns}/mutes/{team.member.name}")) == (404, "not_found")

    # Someone who is not a member may be muted.
    assert call(srv, team.mod, "POST", f"/ns/{team.ns}/mutes", {"username": team.outsider.name}).status == 201
    # Members may not mute or unmute (403 even for nobody); outsiders: 404.
    assert status_code(call(srv, team.member, "POST", f"/ns/{team.ns}/mutes", {"username": team.mod.name})) == (
        403,
        "forbidden",
    )
    assert status_code(call(srv, team.member, "DELETE", f"/ns/{team.ns}/mutes/nobody")) == (403, "forbidden")
    assert status_code(call(srv, team.outsider, "DELETE", f"/ns/{team.ns}/mutes/{team.outsider.name}")) == (
        404,
        "not_found",
    )
    assert status_code(
        call(srv, team.mod, "POST", f"/ns/{team.ns}/mutes", {"username": team.member.name, "seconds": 0})
    ) == (400, "invalid_frame")


def test_ban_makes_everything_in_the_namespace_403(srv, open_team):
    team = open_team
    room = "bans"
    assert call(srv, team.member, "POST", msgs(team.ns, room), {"message": "hi"}).status == 201
    message_id = call(srv, team.outsider, "POST", msgs(team.ns, room), {"message": "visiting"}).json["id"]
    for who in (team.member, team.outsider):  # a member, and a visitor of an open namespace
        banned = call(srv, team.mod, "POST", f"/ns/{team.ns}/bans", {"username": who.name, "seconds": 3600})
        assert banned.status == 201 and banned.json["kind"] == "ban" and banned.json["until"]
        for method, path, body in (
            ("GET", f"/ns/{team.ns}", None),
            ("GET", f"/ns/{team.ns}/rooms", None),
            ("GET", f"/ns/{team.ns}/members", None),
            ("GET", msgs(team.ns, room), None),
            ("POST", msgs(team.ns, room), {"message": "still here?"}),
            ("DELETE", f"{msgs(team.ns, room)}/{message_id}", None),
            ("POST", f"/ns/{team.ns}/rooms", {"name": "escape"}),
            ("DELETE", f"/ns/{team.ns}/members/{who.name}", None),
        ):
            assert status_code(call(srv, who, method, path, body)) == (403, "forbidden"), (who.name, method, path)
    # Another namespace is not affected.
    assert call(srv, team.member, "GET", "/rooms").status == 200
    assert call(srv, team.mod, "DELETE", f"/ns/{team.ns}/bans/{team.member.name}").status == 204
    assert call(srv, team.member, "GET", msgs(team.ns, room)).status == 200
    assert status_code(call(srv, team.mod, "DELETE", f"/ns/{team.ns}/bans/{team.member.name}")) == (404, "not_found")
    assert status_code(call(srv, team.member, "POST", f"/ns/{team.ns}/bans", {"username": team.mod.name})) == (
        403,
        "forbidden",
    )
    assert status_code(call(srv, team.member, "DELETE", f"/ns/{team.ns}/bans/nobody")) == (403, "forbidden")


def test_banned_in_a_members_namespace_cannot_join_by_invite(srv, team):
    code = call(srv, team.owner, "POST", f"/ns/{team.ns}/invites", {}).json["code"]
    assert call(srv, team.mod, "POST", f"/ns/{team.ns}/bans", {"username": team.outsider.name}).status == 201
    assert status_code(call(srv, team.outsider, "POST", f"/ns/{team.ns}/join", {"code": code})) == (403, "forbidden")
    assert status_code(call(srv, team.outsider, "GET", f"/ns/{team.ns}")) == (404, "not_found")


def test_moderation_aims_down(srv, people):
    """Nobody mutes, bans or kicks themself (409: a lone owner would be locked out), an owner, or,
    unless an owner, a moderator (403); an owner may act on a moderator."""
    team = make_team(srv, people)
    other_mod = new_user(srv.http)
    assert call(srv, team.owner, "POST", f"/ns/{team.ns}/members", {"username": other_mod.name, "role": "moderator"})
    kick = f"/ns/{team.ns}/rooms/general/kick"
    assert call(srv, team.owner, "POST", f"/ns/{team.ns}/rooms", {"name": "general"}).status == 201
    for who in (team.owner, team.mod):
        for path in (f"/ns/{team.ns}/bans", f"/ns/{team.ns}/mutes", kick):
            assert status_code(call(srv, who, "POST", path, {"username": who.name})) == (409, "conflict"), path
    for path in (f"/ns/{team.ns}/bans", f"/ns/{team.ns}/mutes", kick):
        assert status_code(call(srv, team.mod, "POST", path, {"username": team.owner.name})) == (403, "forbidden")
        assert status_code(call(srv, team.mod, "POST", path, {"username": other_mod.name})) == (403, "forbidden")
    # The owner still owns the namespace, and may mute a moderator.
    assert call(srv, team.owner, "GET", f"/ns/{team.ns}").json["role"] == "owner"
    assert call(srv, team.owner, "POST", f"/ns/{team.ns}/mutes", {"username": team.mod.name}).status == 201
    assert call(srv, team.mod, "POST", f"/ns/{team.ns}/mutes", {"username": team.member.name}).status == 201


def test_audit(srv, team):
    call(srv, team.mod, "POST", f"/ns/{team.ns}/mutes", {"username": team.member.name, "reason": "shouting"})
    log = call(srv, team.owner, "GET", f"/ns/{team.ns}/audit")
    assert log.status == 200
    entries = log.json["entries"]
    assert all(set(e) == {"actor", "action", "target", "reason", "ts"} for e in entries)
    assert entries[0] == {**entries[0], "actor": team.mod.name, "action": "mute", "target": team.member.name}
    assert entries[0]["reason"] == "shouting"
    assert [e["ts"] for e in entries] == sorted((e["ts"] for e in entries), reverse=True)
    assert ("member_add", team.mod.name) in {(e["action"], e["target"]) for e in entries}
    assert len(call(srv, team.mod, "GET", f"/ns/{team.ns}/audit?limit=1").json["entries"]) == 1
    assert status_code(call(srv, team.member, "GET", f"/ns/{team.ns}/audit")) == (403, "forbidden")
    assert status_code(call(srv, team.outsider, "GET", f"/ns/{team.ns}/audit")) == (404, "not_found")
    assert status_code(call(srv, team.owner, "GET", f"/ns/{team.ns}/audit?limit=0")) == (400, "invalid_frame")


# --- The public namespace, staff, direct messages ---------------------------------------------------


def test_public_rooms_are_the_same_through_both_prefixes(srv, people, room):
    alice = people[0]
    posted = call(srv, alice, "POST", f"/rooms/{room_path(room)}/messages", {"message": "one"})
    assert posted.status == 201
    page = call(srv, alice, "GET", msgs("public", room))
    assert [m["id"] for m in page.json["messages"]] == [posted.json["id"]]
    assert call(srv, alice, "POST", msgs("public", room), {"message": "two"}).status == 201
    assert [m["message"] for m in call(srv, alice, "GET", f"/rooms/{room_path(room)}/messages").json["messages"]] == [
        "one",
        "two",
    ]
    assert room in [r["name"] for r in call(srv, alice, "GET", "/ns/public/rooms").json["rooms"]]
    # No namespace of DMs to reach by path.
    assert status_code(call(srv, alice, "GET", "/ns/~dm/rooms")) == (404, "not_found")


def test_staff_moderate_everywhere_and_a_ban_in_public_is_403_on_rooms(srv, module_farm, team, room):
    staff = new_user(srv.http)
    code = "from django.contrib.auth.models import User; User.objects.filter(username={!r}).update(is_staff=True)"
    module_farm.manage("shell", "-c", code.format(staff.name))
    got = call(srv, staff, "GET", f"/ns/{team.ns}")
    assert got.status == 200 and got.json["role"] is None
    assert call(srv, staff, "GET", f"/ns/{team.ns}/audit").status == 200

    victim = new_user(srv.http)
    assert call(srv, victim, "POST", f"/rooms/{room_path(room)}/messages", {"message": "hi"}).status == 201
    assert call(srv, staff, "POST", "/ns/public/bans", {"username": victim.name}).status == 201
    for method, path, body in (
        ("GET", "/rooms", None),
        ("GET", f"/rooms/{room_path(room)}/messages", None),
        ("POST", f"/rooms/{room_path(room)}/messages", {"message": "hi"}),
    ):
        assert status_code(call(srv, victim, method, path, body)) == (403, "forbidden"), path
    assert call(srv, staff, "DELETE", f"/ns/public/bans/{victim.name}").status == 204
    assert call(srv, victim, "GET", "/rooms").status == 200


def test_direct_messages(srv):
    alice, bob = new_user(srv.http), new_user(srv.http)
    sent = call(srv, alice, "POST", f"/dm/{bob.name}/messages", {"message": "hi bob"})
    assert sent.status == 201 and sent.json["sender"] == alice.name
    again = call(srv, alice, "POST", f"/dm/{bob.name}/messages", {"message": "hi bob", "client_id": "k1"})
    assert again.status == 201
    assert call(srv, alice, "POST", f"/dm/{bob.name}/messages", {"message": "x", "client_id": "k1"}).status == 200

    dms = call(srv, bob, "GET", "/dm")
    assert dms.status == 200
    assert dms.json["dms"] == [{"username": alice.name, "last_id": again.json["id"], "unread": 2}]
    assert call(srv, alice, "GET", "/dm").json["dms"][0]["unread"] == 0
    page = call(srv, bob, "GET", f"/dm/{alice.name}/messages")
    assert page.status == 200 and [m["message"] for m in page.json["messages"]] == ["hi bob", "hi bob"]
    assert call(srv, bob, "GET", f"/dm/{alice.name}/messages?after=0").json["events"][0]["id"] == sent.json["id"]

    # A third person has their own DMs, never these.
    carol = new_user(srv.http)
    assert call(srv, carol, "GET", "/dm").json == {"dms": []}
    assert call(srv, carol, "GET", f"/dm/{alice.name}/messages").json["messages"] == []
    assert status_code(call(srv, alice, "GET", "/dm/nobody-" + uuid.uuid4().hex + "/messages")) == (404, "not_found")
    assert status_code(call(srv, alice, "POST", f"/dm/{bob.name}/messages", {"message": ""})) == (400, "empty_message")


def test_schema_documents_the_namespace_routes(srv):
    schema = request(srv.http, "GET", "/api/v1/openapi.json").json
    paths = schema["paths"]
    expected = {
        "/api/v1/ns": {"get", "post"},
        "/api/v1/ns/{ns}": {"get", "patch"},
        "/api/v1/ns/{ns}/members": {"get", "post"},
        "/api/v1/ns/{ns}/members/{username}": {"delete"},
        "/api/v1/ns/{ns}/invites": {"post"},
        "/api/v1/ns/{ns}/invites/{code}": {"delete"},
        "/api/v1/ns/{ns}/join": {"post"},
        "/api/v1/ns/{ns}/rooms": {"get", "post"},
        "/api/v1/ns/{ns}/rooms/{room}/messages": {"get", "post"},
        "/api/v1/ns/{ns}/rooms/{room}/messages/{message_id}": {"patch", "delete"},
        "/api/v1/ns/{ns}/rooms/{room}/messages/{message_id}/reactions": {"post"},
        "/api/v1/ns/{ns}/rooms/{room}/messages/{message_id}/thread": {"get"},
        "/api/v1/ns/{ns}/rooms/{room}/read": {"post"},
        "/api/v1/ns/{ns}/rooms/{room}/members": {"post"},
        "/api/v1/ns/{ns}/rooms/{room}/members/{username}": {"delete"},
        "/api/v1/ns/{ns}/rooms/{room}/kick": {"post"},
        "/api/v1/ns/{ns}/mutes": {"post"},
        "/api/v1/ns/{ns}/mutes/{username}": {"delete"},
        "/api/v1/ns/{ns}/bans": {"post"},
        "/api/v1/ns/{ns}/bans/{username}": {"delete"},
        "/api/v1/ns/{ns}/audit": {"get"},
        "/api/v1/dm": {"get"},
        "/api/v1/dm/{username}/messages": {"get", "post"},
    }
    for path, methods in expected.items():
        assert set(paths.get(path, {})) >= methods, path
    assert "until" in schema["components"]["schemas"]["Error"]["properties"]


def test_namespace_writes_spend_the_write_budget(module_farm):
    tight = module_farm.start(PARLEY_RATE_PER_SEC="0.1", PARLEY_RATE_BURST="3")
    owner = new_user(tight.http)
    ns = fresh()
    assert call(tight, owner, "POST", "/ns", {"name": ns}).status == 201
    answers = [call(tight, owner, "POST", f"/ns/{ns}/invites", {}).status for _ in range(3)]
    assert answers[:2] == [201, 201] and answers[2] == 429
    assert call(tight, owner, "GET", f"/ns/{ns}").status == 200  # reads are not limited
