"""``parley login|send|tail|logout`` end to end: ``python -m terminal`` in a subprocess, with a config
directory of its own, against a live server."""

from __future__ import annotations

import json
import stat
import urllib.parse

import pytest

from tests.api.client import PASSWORD, request, sign_up
from tests.tcpproxy import TcpProxy

pytestmark = pytest.mark.embedded_only  # starts its own server processes: run once


def messages_of(base: str, token: str, room: str) -> list[dict]:
    answer = request(base, "GET", f"/api/v1/rooms/{urllib.parse.quote(room, safe='')}/messages", token=token)
    assert answer.status == 200, answer.text
    return answer.json["messages"]


def test_login_send_tail_logout(live, cli, room):
    name = sign_up(live.http).username  # type: ignore[attr-defined]

    refused = cli("login", live.http, stdin=f"{name}\nnot the password\n")
    assert refused.returncode == 1 and "wrong username or password" in refused.stderr
    assert not cli.config_file.exists()

    done = cli("login", live.http + "/", stdin=f"{name}\n{PASSWORD}\n")
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(cli.config_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.config_file.parent.stat().st_mode) == 0o700
    saved = json.loads(cli.config_file.read_text())
    assert saved["server"] == live.http and saved["username"] == name
    token = saved["token"]
    assert request(live.http, "GET", "/api/v1/me", token=token).json == {"username": name, "guest": False}

    sent = cli("send", room, "안녕하세요", "🎉")
    assert sent.returncode == 0, sent.stderr
    first = json.loads(sent.stdout)
    assert first["type"] == "message" and first["message"] == "안녕하세요 🎉" and first["sender"] == name
    piped = cli("send", room, stdin="```python\nprint('hi')\n```\n")
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["message"] == "```python\nprint('hi')\n```"
    stored = [m["message"] for m in messages_of(live.http, token, room)]
    assert stored == ["안녕하세요 🎉", "```python\nprint('hi')\n```"]

    # tail: the join's messages, then live events, as JSON lines
    tail = cli.spawn("tail", room)
    try:
        history = [json.loads(line) for line in tail.take(2)]
        assert [m["id"] for m in history] == [first["id"], first["id"] + 1]
        assert cli("send", room, "live").returncode == 0
        (live_line,) = tail.take(1)
        assert json.loads(live_line)["message"] == "live"
    finally:
        assert tail.stop() in (0, -15)

    # tail --after: exactly the events after that id, of every kind
    reacted = request(
        live.http,
        "POST",
        f"/api/v1/rooms/{urllib.parse.quote(room, safe='')}/messages/{first['id']}/reactions",
        {"emoji": "👍", "op": "add"},
        token=token,
    )
    assert reacted.status == 200, reacted.text
    tail = cli.spawn("tail", room, "--after", str(first["id"]))
    try:
        events = [json.loads(line) for line in tail.take(3)]
        assert [e["id"] for e in events] == [first["id"] + 1, first["id"] + 2, first["id"] + 3]
        assert events[-1]["type"] == "reaction" and events[-1]["emoji"] == "👍"
    finally:
        tail.stop()

    out = cli("logout")
    assert out.returncode == 0, out.stderr
    assert not cli.config_file.exists()
    assert request(live.http, "GET", "/api/v1/me", token=token).status == 401  # revoked on the server
    again = cli("send", room, "x")
    assert again.returncode == 1 and "parley login" in again.stderr


def test_tail_resumes_across_a_dropped_connection(live, cli, room):
    """The network drops under ``parley tail``; what was posted meanwhile is printed once, in order."""
    name = sign_up(live.http).username  # type: ignore[attr-defined]
    proxy = TcpProxy("127.0.0.1", live.port).start()
    try:
        assert cli("login", f"http://127.0.0.1:{proxy.port}", stdin=f"{name}\n{PASSWORD}\n").returncode == 0
        token = json.loads(cli.config_file.read_text())["token"]
        path = f"/api/v1/rooms/{urllib.parse.quote(room, safe='')}/messages"
        posted = [request(live.http, "POST", path, {"message": f"m{i}"}, token=token).json["id"] for i in range(3)]
        tail = cli.spawn("tail", room, "--after", str(posted[-1]))
        try:
            posted.append(request(live.http, "POST", path, {"message": "m3"}, token=token).json["id"])
            printed = [json.loads(line) for line in tail.take(1)]
            proxy.cut()
            for i in range(4, 9):  # while the tail is cut off
                posted.append(request(live.http, "POST", path, {"message": f"m{i}"}, token=token).json["id"])
            proxy.restore()
            printed += [json.loads(line) for line in tail.take(5)]
            posted.append(request(live.http, "POST", path, {"message": "m9"}, token=token).json["id"])
            printed += [json.loads(line) for line in tail.take(1)]
        finally:
            tail.stop()
        assert [p["id"] for p in printed] == posted[3:]
        assert [p["message"] for p in printed] == [f"m{i}" for i in range(3, 10)]
        assert tail.queue.get(timeout=10) is None  # nothing more (no line twice)
        assert "connection lost" in tail.errors  # it did drop and come back
    finally:
        proxy.close()


def test_send_and_tail_in_a_namespace_and_a_dm(live, cli, room):
    """``<ns>/<room>`` and ``@<username>`` reach the namespace's room and the direct message."""
    me, other = sign_up(live.http), sign_up(live.http)
    my_name, other_name = me.username, other.username  # type: ignore[attr-defined]
    assert cli("login", live.http, "--username", my_name, stdin=f"{PASSWORD}\n").returncode == 0
    token = json.loads(cli.config_file.read_text())["token"]
    ns = f"ns{room[-8:]}"
    made = request(live.http, "POST", "/api/v1/ns", {"name": ns}, token=token)
    assert made.status == 201, made.text

    sent = cli("send", f"{ns}/{room}", "네임스페이스")
    assert sent.returncode == 0, sent.stderr
    stored = request(
        live.http, "GET", f"/api/v1/ns/{ns}/rooms/{urllib.parse.quote(room, safe='')}/messages", token=token
    )
    assert [m["message"] for m in stored.json["messages"]] == ["네임스페이스"]

    dm = cli("send", f"@{other_name}", "비밀")
    assert dm.returncode == 0, dm.stderr
    tail = cli.spawn("tail", f"@{other_name}")
    try:
        (line,) = tail.take(1)
        assert json.loads(line)["message"] == "비밀" and json.loads(line)["sender"] == my_name
    finally:
        tail.stop()
    hidden = cli("send", "nosuchns/room", "x")
    assert hidden.returncode == 1 and "not_found" in hidden.stderr
