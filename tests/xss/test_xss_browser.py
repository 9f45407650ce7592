"""The XSS corpus in a real page: Chromium shows a room holding every payload (armed to push onto
``window.__xss`` where it can, and alert/confirm/prompt/print trapped), its files named by payloads,
live messages and edits, under the page's Content-Security-Policy. Nothing may run, no policy
violation may fire (nothing even tried), and no element of the message list may carry an event
handler, a javascript: (or other non-http) link, or be a script, iframe, object, embed or style."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from websockets.sync.client import connect

from tests.api.client import User, new_user, request, room_path
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, Chat
from tests.servers import Server, ServerFarm, scaled_configuration
from tests.xss.corpus import armed, payloads
from tests.xss.test_doors import expected_name, multipart
from uploads.files import IMAGE_EXTENSIONS

# The pages are the same on every backend: once, in the PostgreSQL + Redis pass (as tests/browser).
pytestmark = [pytest.mark.browser, pytest.mark.scaled_only]

# Before any of the page's code: traps for anything a payload could make run.
TRAPS = """
Object.defineProperty(window, "__xss", { value: [], writable: false, configurable: false });
for (const name of ["alert", "confirm", "prompt", "print"]) {
  window[name] = (...args) => { window.__xss.push(`${name}(${args.join(",")})`); };
}
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = e.target && e.target.outerHTML ? e.target.outerHTML.slice(0, 300) : String(e.target);
  const source = `${e.sourceFile}:${e.lineNumber}`;
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI || "inline"} ${source} ${where}`);
}, true);
"""

# Everything wrong with the elements under ``root``: what runs, embeds or styles, a handler, a link
# anywhere but http(s)/mailto.
FIND_PROBLEMS = """
(root) => {
  const bad = new Set(["script", "iframe", "object", "embed", "style", "frame", "frameset", "base",
                       "link", "meta", "svg", "math", "form", "input", "template", "applet"]);
  const found = [];
  for (const el of root.querySelectorAll("*")) {
    const tag = el.localName;
    if (bad.has(tag)) found.push(`<${tag}>`);
    for (const name of el.getAttributeNames()) {
      if (name.startsWith("on") || name === "style" || name === "srcdoc" || name === "formaction")
        found.push(`<${tag} ${name}>`);
    }
    for (const attr of ["href", "src", "action", "data", "xlink:href"]) {
      const value = el.getAttribute(attr);
      if (value === null) continue;
      const url = new URL(value, location.href);
      if (!["http:", "https:", "mailto:"].includes(url.protocol)) found.push(`<${tag} ${attr}=${value}>`);
    }
    if (tag === "img" && !el.closest(".attachments")) found.push("<img> outside the attachments");
  }
  return found;
}
"""


@pytest.fixture
def _close_hub() -> Iterator[None]:
    """Replaces tests/conftest.py's async fixture: Playwright's sync API holds this thread's loop."""
    yield


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("xss-browser")
    env = {"PARLEY_RATE_PER_SEC": "0", "PARLEY_UPLOADS_PER_MINUTE": "0", "PARLEY_MEDIA_ROOT": str(tmp / "media")}
    farm = ServerFarm(tmp=tmp, scaled=scaled_configuration(), extra_env=env)
    try:
        yield farm.start()
    finally:
        farm.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def send_over_websocket(site: Server, user: User, room: str, texts: list[str]) -> list[dict[str, Any]]:
    """Post ``texts`` through the native door as ``user``; their stored frames, in order."""
    url = f"{site.ws}/ws/rooms/{urllib.parse.quote(room, safe='')}/"
    headers = {"Authorization": f"Bearer {user.token}"}
    with connect(url, additional_headers=headers, open_timeout=10, max_queue=None, proxy=None) as ws:
        for i, text in enumerate(texts):
            ws.send(json.dumps({"message": text, "client_id": f"b{i}-{uuid.uuid4().hex[:6]}"}))
        stored: list[dict[str, Any]] = []
        while len(stored) < len(texts):
            frame = json.loads(ws.recv(timeout=20))
            assert frame["type"] != "error", frame
            if frame["type"] == "message" and frame["sender"] == user.name:
                stored.append(frame)
        return stored


def attach_files(site: Server, user: User, room: str, names: list[str]) -> int:
    """Upload a text file named by each of ``names`` and post them, ten to a message; how many posts."""
    ids = []
    for name in names:
        body, content_type = multipart(name, b"xss\n")
        answer = request(
            site.http,
            "POST",
            f"/api/v1/rooms/{room_path(room)}/uploads",
            raw=body,
            headers={"Content-Type": content_type},
            token=user.token,
        )
        assert answer.status == 201, answer.text
        ids.append(answer.json["id"])
    posts = 0
    for i in range(0, len(ids), 10):
        answer = request(
            site.http,
            "POST",
            f"/api/v1/rooms/{room_path(room)}/messages",
            {"message": armed(names[i]), "attachments": ids[i : i + 10]},
            token=user.token,
        )
        assert answer.status == 201, answer.text
        posts += 1
    return posts


def count(page: Page) -> int:
    return page.locator("#log li.msg").count()


def load_everything(page: Page, total: int) -> None:
    """Scroll to the top until the room's first message is shown (each scroll loads a page)."""
    for _ in range(200):
        if page.locator("#older").get_attribute("data-state") == "start":
            break
        shown = count(page)
        page.locator("#scroller").evaluate("el => { el.scrollTop = 0; }")
        page.wait_for_function(
            "n => document.querySelectorAll('#log li.msg').length > n"
            " || document.querySelector('#older').dataset.state === 'start'",
            arg=shown,
        )
    expect(page.locator("#log li.msg")).to_have_count(total)


def assert_nothing_ran(chat: Chat) -> None:
    page = chat.page
    assert page.evaluate("window.__xss") == []
    assert chat.dialogs == []
    assert page.evaluate("window.__violations") == []
    assert page.locator("#log").evaluate(FIND_PROBLEMS) == []
    assert chat.errors == []


def test_the_corpus_runs_nothing_in_the_room_page(site, chromium):
    author = new_user(site.http)
    room = f"xss-{uuid.uuid4().hex[:8]}"
    texts = [armed(p) for p in payloads()]
    send_over_websocket(site, author, room, texts)
    images = tuple(IMAGE_EXTENSIONS)
    names = [p for p in payloads() if (name := expected_name(p)) and not name.lower().endswith(images)]
    posts = attach_files(site, author, room, names[:40])
    total = len(texts) + posts

    context = chromium.new_context(viewport={"width": 1000, "height": 700}, locale="ko-KR")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        chat = Chat(context, context.new_page(), site.http)
        chat.page.add_init_script(TRAPS)
        chat.join(room, "watcher")
        load_everything(chat.page, total)
        bodies = chat.page.locator("#log li.msg .body.md")
        assert bodies.count() >= len(texts)  # each message's server html, not its text
        assert chat.page.locator("#log .attachments .file").count() == min(len(names), 40)
        assert_nothing_ran(chat)

        # Live: new messages and edits of old ones, rendered as they come.
        live = send_over_websocket(site, author, room, texts[:25])
        first = send_over_websocket(site, author, room, ["edit me"])[0]
        chat.wait_for_count(total + len(live) + 1)
        path = f"/api/v1/rooms/{room_path(room)}/messages/{first['id']}"
        for i, text in enumerate(texts[25:50]):
            answer = request(site.http, "PATCH", path, {"message": f"{text}\n\nedit-{i}"}, token=author.token)
            assert answer.status == 200, answer.text
        expect(chat.page.locator(f'#log li.msg[data-id="{first["id"]}"] .body')).to_contain_text("edit-24")
        chat.page.mouse.move(500, 300)
        chat.page.mouse.wheel(0, 300)
        assert_nothing_ran(chat)

        # The watches see what they must (a handler, a javascript: link, a trapped alert, a policy
        # violation), so the empty answers above mean something. Last: these plant what they find.
        planted = chat.page.evaluate(
            f"""() => {{
                 const html = '<p onclick="x">a</p><a href="javascript:void 0">b</a><iframe></iframe>';
                 return ({FIND_PROBLEMS})(new DOMParser().parseFromString(html, "text/html").body);
               }}"""
        )
        assert len(planted) == 3, planted
        chat.page.evaluate("() => { alert(1); document.createElement('b').setAttribute('onclick', 'x'); }")
        assert chat.page.evaluate("window.__xss") == ["alert(1)"]
        chat.page.wait_for_function("window.__violations.some(v => v.startsWith('script-src-attr'))")
    finally:
        context.close()
