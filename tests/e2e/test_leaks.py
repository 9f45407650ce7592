"""An outsider learns nothing of private things: an anonymous visitor and a logged-in non-member
walk every page, list, API route and WebSocket door before and after a private room (in
``public`` and in an open namespace) and a members-only namespace are made, get messages (one
mentioning the outsider) and presence. What they see is the same, byte for byte once per-request
tokens are masked: before, those names did not exist, so this is also "hidden == nonexistent".
"""

from __future__ import annotations

import asyncio
import difflib
import re
import urllib.parse
import uuid

import pytest

from tests.api.client import request
from tests.wsclient import close_code, connect, recv, send

# Run once, on PostgreSQL + Redis (presence and online counts through Redis, as deployed).
pytestmark = pytest.mark.scaled_only

q = urllib.parse.quote

# Per-request values that differ between any two answers (not what the test is about).
VOLATILE = [
    (re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"'), 'name="csrfmiddlewaretoken" value="*"'),
    (re.compile(r'nonce="[^"]+"'), 'nonce="*"'),
    (re.compile(r'"csrfToken":\s*"[^"]+"'), '"csrfToken": "*"'),
    (re.compile(r'data-csrf="[^"]+"'), 'data-csrf="*"'),
]


def masked(text: str) -> str:
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


@pytest.fixture(scope="module")
def scene(live, core):
    tag = uuid.uuid4().hex[:6]
    names = {
        "owner": f"owner{tag}",
        "friend": f"friend{tag}",
        "outsider": f"outsider{tag}",
    }
    creds = {role: core.ok("user", None, username=name) for role, name in names.items()}
    open_ns = f"open{tag}"
    core.ok("ns_create", names["owner"], name=open_ns, fields={})
    core.ok("room_create", names["owner"], ns=open_ns, room="hall", private=False)
    return {
        "tag": tag,
        "names": names,
        "creds": creds,
        "open": open_ns,
        "hidden": f"hidden{tag}",  # the members-only namespace, made later
        "secret": f"secret{tag}",  # the private rooms' name (in public and in the open namespace), made later
        "server": live,
        "core": core,
    }


def http_routes(s: dict) -> list[str]:
    o, h, secret, friend = s["open"], s["hidden"], s["secret"], s["names"]["friend"]
    pages = [
        "/",
        "/rooms.json",
        "/mentions/",
        "/ns/public/",
        f"/ns/{o}/",
        f"/ns/{o}/hall/",
        f"/ns/{o}/{secret}/",
        f"/ns/{o}/{secret}/members/",
        f"/ns/{o}/members/",
        f"/ns/{o}/audit/",
        f"/ns/{o}/settings/",
        f"/ns/{h}/",
        f"/ns/{h}/hall/",
        f"/ns/{h}/members/",
        f"/ns/{h}/audit/",
        f"/ns/{h}/settings/",
        f"/ns/{h}/join/not-a-code/",
        f"/ns/public/{secret}/members/",
        f"/dm/{friend}/",
    ]
    api = [
        "/api/v1/rooms",
        f"/api/v1/rooms/{secret}/messages",
        f"/api/v1/rooms/{secret}/messages/1/thread",
        "/api/v1/ns",
        "/api/v1/ns/public",
        "/api/v1/ns/public/rooms",
        f"/api/v1/ns/public/rooms/{secret}/messages",
        f"/api/v1/ns/public/rooms/{secret}/members",
        f"/api/v1/ns/{o}",
        f"/api/v1/ns/{o}/rooms",
        f"/api/v1/ns/{o}/members",
        f"/api/v1/ns/{o}/audit",
        f"/api/v1/ns/{o}/rooms/{secret}/messages",
        f"/api/v1/ns/{o}/rooms/{secret}/members",
        f"/api/v1/ns/{h}",
        f"/api/v1/ns/{h}/rooms",
        f"/api/v1/ns/{h}/members",
        f"/api/v1/ns/{h}/audit",
        f"/api/v1/ns/{h}/rooms/hall/messages",
        "/api/v1/dm",
    ]
    return pages + api


API_WRITES = [  # writes an outsider tries: refused the same way whether the thing exists or not
    ("POST", "/api/v1/ns/{open}/rooms/{secret}/messages", {"message": "knock"}),
    ("POST", "/api/v1/ns/{hidden}/rooms/hall/messages", {"message": "knock"}),
    ("POST", "/api/v1/ns/{hidden}/rooms", {"name": "mine"}),
    ("POST", "/api/v1/ns/{hidden}/join", {"code": "not-a-code"}),
    ("POST", "/api/v1/ns/{hidden}/mutes", {"username": "{friend}"}),
    ("POST", "/api/v1/ns/{open}/rooms/{secret}/kick", {"username": "{friend}"}),
]


def look(s: dict, who: str) -> dict[str, tuple[int, str]]:
    """Every HTTP route as ``who`` (anonymous or the outsider) sees it: status and masked body."""
    base = s["server"].http
    headers: dict[str, str] = {}
    if who == "outsider":
        creds = s["creds"]["outsider"]
        headers = {"Cookie": f"sessionid={creds['session']}"}
    seen = {}
    for path in http_routes(s):
        sent = dict(headers)
        if path.startswith("/api/") and who == "outsider":
            sent = {"Authorization": f"Bearer {s['creds']['outsider']['token']}"}
        answer = request(base, "GET", urllib.parse.quote(path, safe="/"), headers=sent)
        seen[f"GET {path}"] = (answer.status, masked(answer.text))
    if who == "outsider":
        token = s["creds"]["outsider"]["token"]
        fill = {"secret": s["secret"], "open": s["open"], "hidden": s["hidden"], "friend": s["names"]["friend"]}
        for method, path, body in API_WRITES:
            path = path.format(**fill)
            body = {k: v.format(**fill) for k, v in body.items()}
            answer = request(base, method, path, body, token=token)
            seen[f"{method} {path}"] = (answer.status, masked(answer.text))
    return seen


async def ws_look(s: dict, who: str) -> dict[str, object]:
    """The WebSocket doors of the hidden things as ``who`` sees them: the first frame and close code."""
    headers = {} if who == "anonymous" else {"Authorization": f"Bearer {s['creds']['outsider']['token']}"}
    base = s["server"].ws
    seen: dict[str, object] = {}
    for path in (f"/ws/ns/{s['open']}/{s['secret']}/", f"/ws/ns/{s['hidden']}/hall/", f"/ws/ns/{s['hidden']}/x/"):
        ws = await connect(base + urllib.parse.quote(path, safe="/"), additional_headers=headers)
        first = await recv(ws)
        seen[path] = (first, await close_code(ws))
    return seen


def same(before: dict, after: dict, who: str) -> None:
    problems = []
    for key in before:
        if before[key] != after[key]:
            b, a = before[key], after[key]
            diff = "\n".join(
                difflib.unified_diff(str(b).splitlines(), str(a).splitlines(), "before", "after", lineterm="", n=1)
            )
            problems.append(f"{who}: {key} changed:\n{diff[:3000]}")
    assert not problems, "\n\n".join(problems)


async def joined(server, path: str, token: str | None = None, query: str = ""):
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    ws = await connect(server.ws + urllib.parse.quote(path, safe="/") + query, additional_headers=headers)
    hello = await recv(ws)
    assert hello["type"] == "hello", hello
    while (await recv(ws))["type"] != "presence":
        pass
    return ws


async def post(ws, text: str) -> dict:
    client_id = uuid.uuid4().hex
    await send(ws, {"type": "message", "message": text, "client_id": client_id})
    while True:
        frame = await recv(ws)
        if frame["type"] == "error" or frame.get("client_id") == client_id:
            assert frame["type"] == "message", frame
            return frame


async def test_an_outsider_sees_nothing_of_private_rooms_and_members_only_namespaces(scene):
    s, core, server = scene, scene["core"], scene["server"]
    owner, friend, outsider = s["names"]["owner"], s["names"]["friend"], s["names"]["outsider"]
    tokens = {role: c["token"] for role, c in s["creds"].items()}
    # The outsider and a guest sit in a public room of public and of the open namespace all along.
    lobby = f"lobby{s['tag']}"
    watchers = [
        await joined(server, f"/ws/rooms/{lobby}/", tokens["outsider"]),
        await joined(server, f"/ws/ns/{s['open']}/hall/", tokens["outsider"]),
        await joined(server, f"/ws/rooms/{lobby}/", None, "?name=visitor"),
    ]
    before = {who: await asyncio.to_thread(look, s, who) for who in ("anonymous", "outsider")}
    ws_before = {who: await ws_look(s, who) for who in ("anonymous", "outsider")}

    # The private things: made, talked in (mentioning the outsider), with people present.
    secret, hidden = s["secret"], s["hidden"]
    core.ok("room_create", owner, ns="public", room=secret, private=True)
    core.ok("room_member_add", owner, ns="public", room=secret, username=friend)
    core.ok("room_create", owner, ns=s["open"], room=secret, private=True)
    core.ok("room_member_add", owner, ns=s["open"], room=secret, username=friend)
    core.ok("ns_create", owner, name=hidden, fields={"visibility": "members"})
    core.ok("member_set", owner, ns=hidden, username=friend, role="member")
    core.ok("room_create", owner, ns=hidden, room="hall", private=False)
    present = []
    for path in (f"/ws/rooms/{secret}/", f"/ws/ns/{s['open']}/{secret}/", f"/ws/ns/{hidden}/hall/"):
        for who in ("owner", "friend"):
            ws = await joined(server, path, tokens[who])
            present.append(ws)
            await post(ws, f"@{outsider} secret words from {who}")
    await asyncio.sleep(0.3)  # mentions go out after their commit

    after = {who: await asyncio.to_thread(look, s, who) for who in ("anonymous", "outsider")}
    ws_after = {who: await ws_look(s, who) for who in ("anonymous", "outsider")}
    for who in ("anonymous", "outsider"):
        same(before[who], after[who], who)
        assert ws_before[who] == ws_after[who], (who, ws_before[who], ws_after[who])
        for first, code in ws_after[who].values():  # the one refusal: nothing tells "hidden" from "missing"
            assert first["code"] == "forbidden" and code == 4403, (first, code)

    # The private room of public: its name is taken (a join cannot create it), but that is all.
    doors = (f"/ws/rooms/{q(secret)}/", f"/chat/{q(secret)}", f"/ws/chat/{q(secret)}/")
    for door, headers in [(d, h) for d in doors for h in ({}, {"Authorization": f"Bearer {tokens['outsider']}"})]:
        ws = await connect(server.ws + door, additional_headers=headers)
        first = await recv(ws)
        assert first["type"] == "error" and first["code"] == "forbidden", first
        assert first == ws_after["anonymous"][f"/ws/ns/{s['hidden']}/hall/"][0]
        assert await close_code(ws) == 4403
    for path in (f"/rooms/{secret}/", f"/ns/public/{secret}/"):
        for cookie in ({}, {"Cookie": f"sessionid={s['creds']['outsider']['session']}"}):
            page = await asyncio.to_thread(request, server.http, "GET", path, headers=cookie)
            if path.startswith("/ns/public/") and page.status in (301, 302):  # to its canonical URL
                assert page.headers["location"].endswith(f"/rooms/{q(secret)}/"), page.headers
                continue
            assert page.status == 404, (path, page.status)
            assert secret not in page.text and "secret words" not in page.text

    # Nothing reached the outsider's (or the guest's) open connections: no mention, no presence of
    # anyone in the private rooms.
    for ws in watchers:
        await send(ws, {"type": "ping"})
        while (frame := await recv(ws))["type"] != "pong":
            assert frame["type"] not in ("mention", "message"), frame
            if frame["type"] == "presence":
                assert owner not in frame["users"] and friend not in frame["users"], frame
    # The friend does get the mention-free view of their own rooms; the outsider's mentions page
    # and DM list were compared above. Finally, none of the private text is anywhere they looked.
    for who in ("anonymous", "outsider"):
        for key, (_, body) in after[who].items():
            assert "secret words" not in body, key
    for ws in watchers + present:
        await ws.close()


async def test_a_removed_member_stops_seeing_at_once(scene):
    """A member removed from a members-only namespace sees what an outsider sees."""
    s, core, server = scene, scene["core"], scene["server"]
    owner = s["names"]["owner"]
    tag = uuid.uuid4().hex[:6]
    ns, nothing = f"gone{tag}", f"never{tag}"
    made = core.ok("user", None, username=f"leaver{tag}")
    core.ok("ns_create", owner, name=ns, fields={"visibility": "members"})
    core.ok("member_set", owner, ns=ns, username=f"leaver{tag}", role="member")
    core.ok("room_create", owner, ns=ns, room="hall", private=False)
    ws = await joined(server, f"/ws/ns/{ns}/hall/", made["token"])
    owner_token = s["creds"]["owner"]["token"]  # through the API: the server publishes the removal
    path = f"/api/v1/ns/{ns}/members/leaver{tag}"
    removed = await asyncio.to_thread(request, server.http, "DELETE", path, token=owner_token)
    assert removed.status == 204, removed.text
    assert await close_code(ws) == 4410
    for path in (f"/api/v1/ns/{ns}", f"/api/v1/ns/{ns}/rooms"):
        got = await asyncio.to_thread(request, server.http, "GET", path, token=made["token"])
        missing = await asyncio.to_thread(request, server.http, "GET", path.replace(ns, nothing), token=made["token"])
        assert got.status == missing.status == 404
        assert got.text.replace(ns, nothing) == missing.text


async def test_who_loses_sight_of_a_private_room_is_closed_out_of_it(scene):
    """Removed from a private room, or demoted from moderator (who see every private room) to
    member: their connection to it closes (4410) and they cannot come back (4403)."""
    s, core, server = scene, scene["core"], scene["server"]
    owner_token = s["creds"]["owner"]["token"]
    tag = uuid.uuid4().hex[:6]
    ns = f"den{tag}"
    made = {who: core.ok("user", None, username=f"{who}{tag}") for who in ("mod", "guestlist")}
    core.ok("ns_create", s["names"]["owner"], name=ns, fields={})
    core.ok("member_set", s["names"]["owner"], ns=ns, username=f"mod{tag}", role="moderator")
    core.ok("member_set", s["names"]["owner"], ns=ns, username=f"guestlist{tag}", role="member")
    core.ok("room_create", s["names"]["owner"], ns=ns, room="den", private=True)
    core.ok("room_member_add", s["names"]["owner"], ns=ns, room="den", username=f"guestlist{tag}")
    path = f"/ws/ns/{ns}/den/"

    member = await joined(server, path, made["guestlist"]["token"])
    gone = await asyncio.to_thread(
        request, server.http, "DELETE", f"/api/v1/ns/{ns}/rooms/den/members/guestlist{tag}", token=owner_token
    )
    assert gone.status == 204, gone.text
    assert await close_code(member, within=3) == 4410

    moderator = await joined(server, path, made["mod"]["token"])
    demoted = await asyncio.to_thread(
        request,
        server.http,
        "POST",
        f"/api/v1/ns/{ns}/members",
        {"username": f"mod{tag}", "role": "member"},
        token=owner_token,
    )
    assert demoted.status == 200, demoted.text
    for who in ("guestlist", "mod"):
        ws = await connect(
            server.ws + urllib.parse.quote(path, safe="/"),
            additional_headers={"Authorization": f"Bearer {made[who]['token']}"},
        )
        assert (await recv(ws))["code"] == "forbidden"
        assert await close_code(ws) == 4403
    # The demoted moderator's open connection must not go on receiving the room's messages.
    owner_ws = await joined(server, path, owner_token)
    await post(owner_ws, "for the room's members only")
    try:
        code = await close_code(moderator, within=3)
    except TimeoutError:
        code = None
    await owner_ws.close()
    assert code == 4410, "a moderator demoted to member stays connected to a private room they no longer see"
