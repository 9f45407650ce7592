"""Outgoing webhooks against a live server and a real local receiver (tests/hooks/receiver.py):
who may make them; every event of the kinds asked for, in id order, signed, with its headers and
body; ``mention`` (a message naming a bot of the namespace); a receiver that fails (retries with
backoff, paused after PARLEY_WEBHOOK_PAUSE_AFTER failures, resumed from where it stopped), is
stopped and started again; a reply posted into the room once; private receivers refused when the
server does not allow them, at creation and at delivery."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from tests.api.client import new_user
from tests.hooks.conftest import FAST, call, new_room
from tests.hooks.receiver import Hit
from tests.servers import ServerFarm

KINDS = ["message", "edit", "delete", "reaction"]


def wait_for(condition: Callable[[], Any], within: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + within
    while True:
        got = condition()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)


def make_hook(srv: Any, team: dict[str, Any], url: str, events: list[str], room: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url, "events": events}
    if room is not None:
        body["room"] = room
    made = call(srv, team["owner"], "POST", f"/ns/{team['ns']}/hooks/outgoing", body)
    assert made.status == 201, made.text
    assert set(made.json) >= {"id", "url", "events", "room", "secret", "state"}
    assert made.json["state"] == "active" and made.json["room"] == room and made.json["events"] == events
    return made.json


def say(srv: Any, team: dict[str, Any], room: str, text: str, who: str = "member") -> int:
    posted = call(srv, team[who], "POST", f"/ns/{team['ns']}/rooms/{room}/messages", {"message": text})
    assert posted.status == 201, posted.text
    return posted.json["id"]


def ids(hits: list[Hit], room: str | None = None) -> list[int]:
    return [h.json["id"] for h in hits if room is None or h.json["room"] == room]


def check_hits(hits: list[Hit], secret: str, ns: str) -> None:
    """Every request: signed, its headers agree with its body, each X-Parley-Delivery unique."""
    for hit in hits:
        assert hit.signed_with(secret), hit.headers
        assert hit.headers["x-parley-event-id"] == str(hit.json["id"])
        assert hit.headers["content-type"] == "application/json"
        assert hit.json["namespace"] == ns
    deliveries = [h.headers["x-parley-delivery"] for h in hits]
    assert len(set(deliveries)) == len(deliveries)


def test_who_may_make_outgoing_hooks(srv, team, receiver):
    ns = team["ns"]
    hook = make_hook(srv, team, receiver.url, ["message"])
    path = f"/ns/{ns}/hooks/outgoing"
    body = {"url": receiver.url, "events": ["message"]}
    assert call(srv, team["member"], "POST", path, body).status == 403
    assert call(srv, team["outsider"], "POST", path, body).status == 404
    assert call(srv, None, "POST", path, body).status == 401
    for what, bad in [
        ("events", {"url": receiver.url, "events": ["typing"]}),
        ("events", {"url": receiver.url, "events": []}),
        ("url", {"url": "ftp://example.com/x", "events": ["message"]}),
        ("url", {"url": "http://user:pw@example.com/", "events": ["message"]}),
    ]:
        answer = call(srv, team["owner"], "POST", path, bad)
        assert (answer.status, answer.code) == (400, "invalid_frame"), (what, answer.text)
    assert call(srv, team["owner"], "POST", path, {**body, "room": "no-such-room"}).status == 404
    long_host = {"url": f"http://{'a' * 60}.{'b' * 60}.example/x", "events": ["edit"]}
    made = call(srv, team["owner"], "POST", path, long_host)  # its bot's name is cut to a name's length
    assert made.status == 201, made.text
    assert call(srv, team["owner"], "DELETE", f"{path}/{made.json['id']}").status == 204
    listed = call(srv, team["mod"], "GET", path)
    assert listed.status == 200 and hook["id"] in [h["id"] for h in listed.json["hooks"]]
    assert hook["secret"] not in listed.text
    one = f"{path}/{hook['id']}"
    for who, status in (("member", 403), ("outsider", 404)):
        assert call(srv, team[who], "GET", path).status == status
        assert call(srv, team[who], "GET", f"{one}/deliveries").status == status
        assert call(srv, team[who], "POST", f"{one}/resume").status == status
        assert call(srv, team[who], "DELETE", one).status == status
    assert call(srv, team["owner"], "DELETE", one).status == 204
    assert call(srv, team["owner"], "DELETE", one).status == 404
    audit = call(srv, team["owner"], "GET", f"/ns/{ns}/audit").json["entries"]
    assert {"hook_out_create", "hook_out_delete"} <= {e["action"] for e in audit if e["target"] == receiver.url}
    assert call(srv, team["owner"], "GET", f"{one}/deliveries").status == 404


def test_every_event_in_id_order_signed(srv, team, receiver):
    ns, room = team["ns"], new_room(srv, team)
    hook = make_hook(srv, team, receiver.url, KINDS, room=room)
    other = new_room(srv, team)  # not this hook's room
    first = say(srv, team, room, "one")
    say(srv, team, other, "elsewhere")
    for text in ("two", "three", "넷 🎉"):
        say(srv, team, room, text)
    base = f"/ns/{ns}/rooms/{room}/messages"
    assert call(srv, team["member"], "PATCH", f"{base}/{first}", {"message": "one, edited"}).status == 200
    react = {"emoji": "👍", "op": "add"}
    assert call(srv, team["owner"], "POST", f"{base}/{first + 1}/reactions", react).status == 200
    assert call(srv, team["member"], "DELETE", f"{base}/{first + 2}").status == 204
    wanted = list(range(first, first + 7))
    wait_for(lambda: ids(receiver.acked()) == wanted, what="seven events in order")
    hits = receiver.all()
    assert ids(hits) == wanted  # none twice: nothing failed
    check_hits(hits, hook["secret"], ns)
    bodies = [h.json for h in hits]
    assert [b["type"] for b in bodies] == ["message"] * 4 + ["edit", "reaction", "delete"]
    assert all(b["room"] == room for b in bodies)
    assert bodies[3]["message"] == "넷 🎉" and bodies[0]["bot"] is False
    assert bodies[4]["target"] == first and bodies[4]["message"] == "one, edited"
    deliveries = call(srv, team["owner"], "GET", f"/ns/{ns}/hooks/outgoing/{hook['id']}/deliveries").json
    assert [d["event_id"] for d in deliveries["deliveries"]] == wanted[::-1]
    assert all(d["status"] == 200 and d["ok"] and d["error"] == "" for d in deliveries["deliveries"])


def test_mention_means_a_message_naming_a_bot(srv, team, receiver):
    room = new_room(srv, team)
    bot = call(srv, team["owner"], "POST", f"/ns/{team['ns']}/bots", {"name": "oracle"}).json
    make_hook(srv, team, receiver.url, ["mention"], room=room)
    say(srv, team, room, "nobody named")
    named = say(srv, team, room, f"@{bot['username']} what is up?")
    say(srv, team, room, f"@{team['owner'].name} a person, not a bot")
    last = say(srv, team, room, "a marker")
    named_again = say(srv, team, room, f"again @{bot['username']}")
    wait_for(lambda: ids(receiver.acked()) == [named, named_again], what="two mentions")
    assert last not in ids(receiver.all())


def test_a_failing_receiver_is_retried_then_paused_then_resumed(srv, team, receiver):
    ns, room = team["ns"], new_room(srv, team)
    receiver.answer = lambda _: (500, b"")
    hook = make_hook(srv, team, receiver.url, ["message"], room=room)
    one = f"/ns/{ns}/hooks/outgoing/{hook['id']}"
    first = say(srv, team, room, "a")
    say(srv, team, room, "b")
    paused = wait_for(lambda: (h := call(srv, team["owner"], "GET", one).json)["state"] == "paused" and h, what="pause")
    assert paused["failures"] == 4 and "500" in paused["reason"]
    attempts = receiver.all()
    assert ids(attempts) == [first] * 4  # the first event, again and again: never the second before it
    deliveries = call(srv, team["owner"], "GET", f"{one}/deliveries").json["deliveries"]
    assert [(d["event_id"], d["status"], d["ok"]) for d in deliveries] == [(first, 500, False)] * 4
    page = team["owner"].browser.get(f"/ns/{ns}/hooks/")
    assert 'data-state="paused"' in page.text and "500" in page.text
    time.sleep(1.0)
    assert len(receiver.all()) == 4  # paused: nothing more until resumed
    receiver.answer = lambda _: (200, b"")
    resumed = call(srv, team["owner"], "POST", f"{one}/resume")
    assert resumed.status == 200 and resumed.json["state"] == "active" and resumed.json["failures"] == 0
    wait_for(lambda: ids(receiver.acked()) == [first, first + 1], what="both after resuming")
    assert ids(receiver.all()) == [first] * 5 + [first + 1]
    check_hits(receiver.all(), hook["secret"], ns)


def test_a_receiver_stopped_and_started_again_misses_nothing(srv, team, receiver):
    ns, room = team["ns"], new_room(srv, team)
    hook = make_hook(srv, team, receiver.url, ["message"], room=room)
    first = say(srv, team, room, "before")
    wait_for(lambda: ids(receiver.acked()) == [first])
    receiver.stop()
    sent = [say(srv, team, room, f"while down {i}") for i in range(3)]
    one = f"/ns/{ns}/hooks/outgoing/{hook['id']}"
    wait_for(lambda: call(srv, team["owner"], "GET", one).json["failures"] >= 1, what="a failure")
    receiver.start()
    wait_for(lambda: ids(receiver.acked()) == [first, *sent], what="all after the restart")
    assert ids(receiver.all()) == [first, *sent]  # the failures reached no receiver: no repeats
    failed = [d for d in call(srv, team["owner"], "GET", f"{one}/deliveries").json["deliveries"] if not d["ok"]]
    assert failed and all(d["status"] is None and d["event_id"] == sent[0] for d in failed)


def test_a_reply_is_posted_into_the_room_once(srv, team, receiver):
    ns, room = team["ns"], new_room(srv, team)
    receiver.answer = lambda body: (200, json.dumps({"message": f"pong to {body['id']}"}).encode())
    make_hook(srv, team, receiver.url, ["message"], room=room)
    ping = say(srv, team, room, "ping")
    messages = f"/ns/{ns}/rooms/{room}/messages"

    def replies() -> list[dict[str, Any]]:
        return [m for m in call(srv, team["owner"], "GET", messages).json["messages"] if m["bot"]]

    [reply] = wait_for(replies, what="the reply")
    assert reply["message"] == f"pong to {ping}" and reply["reply_to"] is None
    time.sleep(1.0)
    assert ids(receiver.all()) == [ping]  # its own reply is not sent back to it
    assert len(replies()) == 1


def test_private_receivers_are_refused_unless_allowed(tmp_path, receiver):
    farm = ServerFarm(tmp=tmp_path, scaled=False)
    try:
        # One server allows loopback receivers and delivers nothing; the other delivers, refusing them.
        maker = farm.start(**{**FAST, "PARLEY_WEBHOOK_DELIVERY": "0"})
        strict = farm.start(**{**FAST, "PARLEY_WEBHOOK_ALLOW_PRIVATE": "0"})
        owner = new_user(maker.http)
        ns = f"ssrf-{uuid.uuid4().hex[:6]}"
        team = {"ns": ns, "owner": owner, "member": owner}
        assert call(maker, owner, "POST", "/ns", {"name": ns}).status == 201
        room = new_room(maker, team)
        for url in (receiver.url, "http://10.1.2.3/x", "http://[::1]:9/x", "http://169.254.169.254/latest/meta-data/"):
            refused = call(strict, owner, "POST", f"/ns/{ns}/hooks/outgoing", {"url": url, "events": ["message"]})
            assert (refused.status, refused.code) == (403, "forbidden"), (url, refused.text)
            assert "private" in refused.json["error"]["detail"]
        hook = make_hook(maker, team, receiver.url, ["message"], room=room)
        say(maker, team, room, "to a loopback receiver")
        one = f"/ns/{ns}/hooks/outgoing/{hook['id']}/deliveries"
        failed = wait_for(lambda: call(maker, owner, "GET", one).json["deliveries"], what="a refused attempt")
        assert failed[0]["status"] is None and "private" in failed[0]["error"]
        assert receiver.all() == []
    finally:
        farm.close()


def test_receivers_see_a_hook_for_every_room_of_the_namespace(srv, team, receiver):
    rooms = [new_room(srv, team) for _ in range(2)]
    hook = make_hook(srv, team, receiver.url, ["message"])
    late = new_room(srv, team)  # made after the hook: its events count too
    sent = {r: [say(srv, team, r, f"{r} {i}") for i in range(3)] for r in (*rooms, late)}
    wait_for(lambda: len(receiver.acked()) == 9, what="nine events")
    for room, expected in sent.items():
        assert ids(receiver.acked(), room) == expected
    check_hits(receiver.all(), hook["secret"], team["ns"])
