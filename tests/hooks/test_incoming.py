"""Incoming webhooks against a live server: made by owners and moderators (a member 403, an
outsider 404), listed without secrets, revoked (404 from then on); ``POST /hooks/<secret>`` with
Parley's ``{"message"}``, Slack's JSON as real tools send it (tests/hooks/slack/) and as the form
field ``payload``, posting through the same path as every message (ids, history, the WebSocket)
as the hook's bot; bad bodies 400 in the API's error shape; the rate limit 429."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from hooks import slack
from tests.api.client import request
from tests.hooks.conftest import FAST, call, new_room
from tests.wsclient import connect, next_messages, read_history, room_url

SLACK = Path(__file__).parent / "slack"
# What each captured payload must show once posted (its Markdown, rendered).
EXPECT = {
    "alertmanager.json": ["HighRequestLatency", "<code>critical</code>", "<strong>AlertManager</strong>"],
    "grafana.json": ["Disk usage above 90%", 'href="https://grafana.example.com/alerting/list"', "Grafana v10.4.2"],
    "github_actions.json": ['href="https://github.com/acme/api/actions/runs/9876543210"', "4f2a9c1", "test (3.11)"],
    "blocks.json": ["Deploy finished", "<strong>web</strong>", "한국어", "<s>old</s>", "Open dashboard"],
}


def make_hook(srv: Any, team: dict[str, Any], room: str, name: str = "alerts", by: str = "owner") -> Any:
    made = call(srv, team[by], "POST", f"/ns/{team['ns']}/rooms/{room}/hooks/incoming", {"name": name})
    assert made.status == 201, made.text
    assert set(made.json) >= {"id", "name", "url"} and made.json["url"].startswith("/hooks/")
    return made.json


def post(srv: Any, url: str, body: Any = None, *, raw: bytes | None = None, form: bool = False) -> Any:
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if form else None
    return request(srv.http, "POST", url, body, raw=raw, headers=headers)


def history(srv: Any, team: dict[str, Any], room: str) -> list[dict[str, Any]]:
    return call(srv, team["owner"], "GET", f"/ns/{team['ns']}/rooms/{room}/messages").json["messages"]


def test_only_owners_and_moderators_make_incoming_hooks(srv, team):
    room = new_room(srv, team)
    ns = team["ns"]
    hook = make_hook(srv, team, room, by="mod")
    path = f"/ns/{ns}/rooms/{room}/hooks/incoming"
    assert call(srv, team["member"], "POST", path, {"name": "x"}).status == 403
    assert call(srv, team["outsider"], "POST", path, {"name": "x"}).status == 404
    assert call(srv, None, "POST", path, {"name": "x"}).status == 401
    assert call(srv, team["owner"], "POST", f"/ns/{ns}/rooms/nowhere/hooks/incoming", {"name": "x"}).status == 404
    listed = call(srv, team["owner"], "GET", f"/ns/{ns}/hooks/incoming")
    assert listed.status == 200 and hook["id"] in [h["id"] for h in listed.json["hooks"]]
    assert hook["url"].split("/")[-1] not in listed.text  # no secret in the list
    assert call(srv, team["member"], "GET", f"/ns/{ns}/hooks/incoming").status == 403
    assert call(srv, team["outsider"], "GET", f"/ns/{ns}/hooks/incoming").status == 404
    assert call(srv, team["member"], "DELETE", f"/ns/{ns}/hooks/incoming/{hook['id']}").status == 403
    assert call(srv, team["outsider"], "DELETE", f"/ns/{ns}/hooks/incoming/{hook['id']}").status == 404


async def test_a_parley_message_posts_as_the_hook(srv, team):
    room = new_room(srv, team)
    hook = make_hook(srv, team, room, name="deploys")
    ws = await connect(
        room_url(srv.ws, f"/ws/ns/{team['ns']}/{{}}/", room),
        additional_headers={"Authorization": f"Bearer {team['member'].token}"},
    )
    await read_history(ws)
    answer = post(srv, hook["url"], {"message": "deployed **2.4.1**"})
    assert answer.status == 200 and set(answer.json) == {"id"}
    [frame] = await next_messages(ws, 1)
    assert frame["id"] == answer.json["id"] and frame["bot"] is True
    assert frame["sender"] == hook["username"] and "<strong>2.4.1</strong>" in frame["html"]
    [stored] = history(srv, team, room)
    assert stored["id"] == frame["id"] and stored["bot"] is True and stored["sender"] == hook["username"]
    await ws.close()


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_slack_payloads_as_tools_send_them(srv, team, name):
    room = new_room(srv, team)
    hook = make_hook(srv, team, room, name="slack")
    payload = json.loads((SLACK / name).read_text())
    answer = post(srv, hook["url"], payload)
    assert answer.status == 200, answer.text
    [message] = history(srv, team, room)
    assert message["bot"] is True and message["sender"] == hook["username"]
    for fragment in EXPECT[name]:
        assert fragment in message["html"], (fragment, message["html"])
    assert message["message"] == slack.to_markdown(payload)[0] or message["message"].endswith(
        slack.to_markdown(payload)[0]
    )


def test_slack_json_as_the_form_field_payload(srv, team):
    room = new_room(srv, team)
    hook = make_hook(srv, team, room)
    form = urllib.parse.urlencode({"payload": json.dumps({"text": "from *curl* <https://example.com|here>"})})
    answer = post(srv, hook["url"], raw=form.encode(), form=True)
    assert answer.status == 200, answer.text
    [message] = history(srv, team, room)
    assert message["message"] == "from **curl** [here](https://example.com)"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"not json", "invalid_json"),
        (b"[1, 2]", "invalid_frame"),
        (b'{"message": 5}', "invalid_frame"),
        (b'{"message": ""}', "empty_message"),
        (b"{}", "empty_message"),
        (b'{"attachments": [{"color": "good"}], "blocks": [{"type": "divider"}]}', "empty_message"),
    ],
)
def test_bad_bodies_are_400_in_the_error_shape(srv, team, raw, code):
    room = new_room(srv, team)
    hook = make_hook(srv, team, room)
    answer = post(srv, hook["url"], raw=raw)
    assert (answer.status, answer.code) == (400, code), answer.text
    assert history(srv, team, room) == []


def test_unknown_and_revoked_secrets_are_404(srv, team):
    room = new_room(srv, team)
    hook = make_hook(srv, team, room)
    assert post(srv, hook["url"], {"message": "one"}).status == 200
    unknown = post(srv, "/hooks/" + "x" * 43, {"message": "x"})
    assert (unknown.status, unknown.code) == (404, "not_found")
    assert call(srv, team["owner"], "DELETE", f"/ns/{team['ns']}/hooks/incoming/{hook['id']}").status == 204
    revoked = post(srv, hook["url"], {"message": "two"})
    assert (revoked.status, revoked.code) == (404, "not_found")
    assert call(srv, team["owner"], "DELETE", f"/ns/{team['ns']}/hooks/incoming/{hook['id']}").status == 404
    assert [m["message"] for m in history(srv, team, room)] == ["one"]
    assert request(srv.http, "GET", hook["url"]).status in (404, 405)


def test_an_incoming_hook_is_rate_limited(module_farm, team, srv):
    limited = module_farm.start(
        **{**FAST, "PARLEY_WEBHOOK_INCOMING_RATE_PER_SEC": "0.01", "PARLEY_WEBHOOK_INCOMING_BURST": "2"}
    )
    room = new_room(srv, team)
    hook = make_hook(srv, team, room)
    assert [post(limited, hook["url"], {"message": f"m{i}"}).status for i in range(2)] == [200, 200]
    refused = post(limited, hook["url"], {"message": "m3"})
    assert (refused.status, refused.code) == (429, "rate_limited") and int(refused.headers["retry-after"]) >= 1
    limited.stop()


def test_the_hooks_page(srv, team):
    room = new_room(srv, team)
    owner = team["owner"]
    page = owner.browser.get(f"/ns/{team['ns']}/hooks/")
    assert page.status == 200 and 'id="incoming-create"' in page.text
    made = owner.browser.post_form(
        f"/ns/{team['ns']}/hooks/", {"action": "incoming_create", "name": "paged", "room": room}
    )
    assert made.status == 200 and "/hooks/" in made.text and 'id="hook-secret"' in made.text
    assert team["member"].browser.get(f"/ns/{team['ns']}/hooks/").status == 403
    assert team["outsider"].browser.get(f"/ns/{team['ns']}/hooks/").status == 404
