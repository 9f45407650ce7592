"""Bot accounts against a live server: made by owners and moderators only, a username that is the
name made unique and never a look-alike of a registered user's, a token that speaks through the
API and the WebSocket door, ``"bot": true`` on its messages (people's false, in history too),
presence marking it, a member of its own namespace only, and deactivation: its connections closed
with 4410, its token refused (401). Outsiders: a member 403, anyone else 404, no credentials 401."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from accounts.skeleton import skeletons
from tests.api.client import User, new_user, request, room_path
from tests.wsclient import close_code, connect, read_history, recv, recv_until, room_url


def call(srv: Any, who: User | str | None, method: str, path: str, body: Any = None) -> Any:
    token = who.token if isinstance(who, User) else who
    return request(srv.http, method, "/api/v1" + path, body, token=token)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def team(srv):
    """A members-only namespace: its owner, a moderator, a member, and an outsider."""
    owner, mod, member, outsider = (new_user(srv.http) for _ in range(4))
    ns = f"bots-{uuid.uuid4().hex[:8]}"
    assert call(srv, owner, "POST", "/ns", {"name": ns, "visibility": "members"}).status == 201
    assert call(srv, owner, "POST", f"/ns/{ns}/members", {"username": mod.name, "role": "moderator"}).status == 201
    assert call(srv, owner, "POST", f"/ns/{ns}/members", {"username": member.name}).status == 201
    return {"ns": ns, "owner": owner, "mod": mod, "member": member, "outsider": outsider}


def make_bot(srv: Any, by: User, ns: str, name: str) -> dict[str, Any]:
    made = call(srv, by, "POST", f"/ns/{ns}/bots", {"name": name})
    assert made.status == 201, made.text
    assert set(made.json) >= {"username", "token", "active"} and made.json["active"] is True
    return made.json


def test_owner_and_moderator_make_bots_that_others_cannot(srv, team):
    ns = team["ns"]
    a = make_bot(srv, team["owner"], ns, "ci")
    b = make_bot(srv, team["mod"], ns, "ci")
    assert a["username"] != b["username"]  # the name made unique
    listed = call(srv, team["mod"], "GET", f"/ns/{ns}/bots")
    assert listed.status == 200
    names = [x["username"] for x in listed.json["bots"]]
    assert a["username"] in names and b["username"] in names
    assert all("token" not in x for x in listed.json["bots"])
    # A member: 403; an outsider (the namespace is hidden to them): 404; no credentials: 401.
    assert call(srv, team["member"], "POST", f"/ns/{ns}/bots", {"name": "x"}).status == 403
    assert call(srv, team["member"], "GET", f"/ns/{ns}/bots").status == 403
    assert call(srv, team["member"], "DELETE", f"/ns/{ns}/bots/{a['username']}").status == 403
    assert call(srv, team["outsider"], "POST", f"/ns/{ns}/bots", {"name": "x"}).status == 404
    assert call(srv, team["outsider"], "GET", f"/ns/{ns}/bots").status == 404
    assert call(srv, team["outsider"], "DELETE", f"/ns/{ns}/bots/{a['username']}").status == 404
    assert call(srv, None, "POST", f"/ns/{ns}/bots", {"name": "x"}).status == 401
    # A bot of another namespace cannot be deactivated from here (404), nor can a person.
    assert call(srv, team["owner"], "DELETE", f"/ns/{ns}/bots/{team['member'].name}").status == 404
    # A bad name: 400 in the error shape.
    bad = call(srv, team["owner"], "POST", f"/ns/{ns}/bots", {"name": "x" * 200})
    assert (bad.status, bad.code) == (400, "invalid_name")


def test_a_bot_never_takes_a_registered_persons_look_alike(srv, team):
    ns, owner = team["ns"], team["owner"]
    person = new_user(srv.http, f"rnartin{uuid.uuid4().hex[:4]}")
    look_alike = "m" + person.name[2:]  # "rn" looks like "m"
    for name in (person.name, person.name.upper(), look_alike):
        bot = make_bot(srv, owner, ns, name)
        assert not (skeletons(bot["username"]) & skeletons(person.name)), (name, bot["username"])
        # It cannot log in with a password: no token from the password route.
        for password in ("", "a long enough password 42"):
            answer = request(
                srv.http, "POST", "/api/v1/tokens", {"username": bot["username"], "password": password, "name": "t"}
            )
            assert answer.status in (400, 401), answer.text


async def test_a_bot_speaks_with_its_token_marked_as_a_bot(srv, team):
    ns, owner = team["ns"], team["owner"]
    room = f"r-{uuid.uuid4().hex[:6]}"
    bot = await asyncio.to_thread(make_bot, srv, owner, ns, "helper")
    me = await asyncio.to_thread(call, srv, bot["token"], "GET", "/me")
    assert me.json["username"] == bot["username"]
    path = f"/ns/{ns}/rooms/{room_path(room)}/messages"
    assert (await asyncio.to_thread(call, srv, owner, "POST", f"/ns/{ns}/rooms", {"name": room})).status == 201
    # A person watching the room sees the bot in presence, marked.
    watcher = await connect(room_url(srv.ws, f"/ws/ns/{ns}/{{}}/", room), additional_headers=bearer(owner.token))
    await read_history(watcher)
    await recv_until(watcher, "presence")
    ws = await connect(room_url(srv.ws, f"/ws/ns/{ns}/{{}}/", room), additional_headers=bearer(bot["token"]))
    hello, _, _ = await read_history(ws)
    assert hello["you"]["name"] == bot["username"]
    while (frame := await recv_until(watcher, "presence"))["users"] != sorted([owner.name, bot["username"]]):
        pass
    assert frame["bots"] == [bot["username"]]
    # Its messages carry "bot": true (through the WebSocket and the API); a person's false.
    await ws.send('{"type": "message", "message": "beep from ws"}')
    posted = await asyncio.to_thread(call, srv, bot["token"], "POST", path, {"message": "beep from api"})
    assert posted.status == 201 and posted.json["bot"] is True and posted.json["sender"] == bot["username"]
    human = await asyncio.to_thread(call, srv, owner, "POST", path, {"message": "hi bot"})
    assert human.json["bot"] is False
    seen = []
    while len(seen) < 3:
        frame = await recv(watcher)
        if frame["type"] == "message":
            seen.append((frame["message"], frame["bot"]))
    assert sorted(seen) == [("beep from api", True), ("beep from ws", True), ("hi bot", False)]
    history = await asyncio.to_thread(call, srv, owner, "GET", path)
    assert {m["message"]: m["bot"] for m in history.json["messages"]} == dict(seen)
    # Deactivated: its connection closes with 4410, its token is refused.
    gone = await asyncio.to_thread(call, srv, owner, "DELETE", f"/ns/{ns}/bots/{bot['username']}")
    assert gone.status == 204
    assert await close_code(ws) == 4410
    refused = await asyncio.to_thread(call, srv, bot["token"], "GET", "/me")
    assert (refused.status, refused.code) == (401, "unauthenticated")
    listed = await asyncio.to_thread(call, srv, owner, "GET", f"/ns/{ns}/bots")
    assert {b["username"]: b["active"] for b in listed.json["bots"]}[bot["username"]] is False
    audit = (await asyncio.to_thread(call, srv, owner, "GET", f"/ns/{ns}/audit")).json["entries"]
    done = [(e["action"], e["target"]) for e in audit if e["target"] == bot["username"]]
    assert done == [("bot_deactivate", bot["username"]), ("bot_create", bot["username"])]
    await watcher.close()


def test_a_bot_is_a_member_of_its_namespace_only(srv, team):
    ns, owner = team["ns"], team["owner"]
    bot = make_bot(srv, owner, ns, "homebody")
    assert call(srv, bot["token"], "GET", f"/ns/{ns}").status == 200
    # Not public, not another namespace, not a namespace of its own, no DMs.
    assert call(srv, bot["token"], "GET", "/ns/public").status == 404
    assert call(srv, bot["token"], "POST", "/rooms/lobby/messages", {"message": "x"}).status == 404
    other = f"o-{uuid.uuid4().hex[:6]}"
    assert call(srv, owner, "POST", "/ns", {"name": other}).status == 201
    assert call(srv, bot["token"], "GET", f"/ns/{other}").status == 404
    assert call(srv, bot["token"], "POST", "/ns", {"name": f"b-{uuid.uuid4().hex[:6]}"}).status == 403
    added = call(srv, owner, "POST", f"/ns/{other}/members", {"username": bot["username"]})
    assert added.status == 403, added.text
    assert [n["name"] for n in call(srv, bot["token"], "GET", "/ns").json["namespaces"]] == [ns]


async def test_a_bot_cannot_join_a_room_of_another_namespace(srv, team):
    bot = await asyncio.to_thread(make_bot, srv, team["owner"], team["ns"], "stayer")
    ws = await connect(room_url(srv.ws, "/ws/rooms/{}/", "lobby"), additional_headers=bearer(bot["token"]))
    assert await close_code(ws) == 4403


def test_the_bots_page(srv, team):
    ns, owner = team["ns"], team["owner"]
    page = owner.browser.get(f"/ns/{ns}/bots/")
    assert page.status == 200 and 'id="bot-create"' in page.text
    made = owner.browser.post_form(f"/ns/{ns}/bots/", {"action": "create", "name": "paged"})
    assert made.status == 200 and 'id="bot-token"' in made.text and "parley_" in made.text
    assert team["member"].browser.get(f"/ns/{ns}/bots/").status == 403
    assert team["outsider"].browser.get(f"/ns/{ns}/bots/").status == 404
    korean = request(srv.http, "GET", f"/ns/{ns}/bots/", headers={"Accept-Language": "ko"}, opener=owner.browser.opener)
    assert korean.status == 200 and "봇 만들기" in korean.text
