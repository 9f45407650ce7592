"""Issue 16 on the room page, in Chromium: Markdown as the server renders it (highlighted code that keeps
its white space, tables, links, payloads as text), the composer (Shift+Enter, the code-block button,
the preview), files and images (attach, paste, drop, progress, thumbnails and the full image, file
chips, an upload the network interrupts, no attach button where there are no uploads), and
notifications (the level kept on the server, the permission asked from a button, a browser
notification for a mention or a direct message while the tab is hidden, the tab's title and icon)."""

from __future__ import annotations

import base64
import io
import json
import re
import uuid
from urllib.parse import quote

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Locator, expect

from tests.api.client import User, new_user, request
from tests.browser.conftest import ARTIFACTS, Chat, Server, room_path, unique

pytestmark = pytest.mark.browser

CODE = 'def greet(name):\n    """Say hello."""\n    return f"hello, {name}"  # 안녕\n'
MARKDOWN = f"""Here is **the fix** and `inline()` code:

```python
{CODE}```

| name | score |
|:-----|------:|
| 민준 | 10 |

See https://docs.djangoproject.com/ for more."""
PAYLOADS = ['<img src=x onerror="window.__pwned = 1; alert(1)">', "[click](javascript:alert(2))"]

# Records browser notifications instead of showing them (with the context's real permission, or a
# given one), and lets a test hide and show the tab (document.visibilityState, visibilitychange).
PAGE_HOOKS = """(() => {
  const Real = window.Notification;
  const forced = %s;
  const state = { permission: forced };
  window.__notes = [];
  window.__asked = 0;
  class Recorded {
    constructor(title, options = {}) {
      this.title = title; this.body = options.body; this.tag = options.tag; this.onclick = null;
      window.__notes.push(this);
    }
    close() { this.closed = true; }
    static get permission() { return state.permission || (Real ? Real.permission : "denied"); }
    static requestPermission() {
      window.__asked += 1;
      if (state.permission) state.permission = "granted";
      return Promise.resolve(Recorded.permission);
    }
  }
  window.Notification = Recorded;
  let hidden = false;
  const visibility = () => (hidden ? "hidden" : "visible");
  Object.defineProperty(Document.prototype, "visibilityState", { get: visibility, configurable: true });
  Object.defineProperty(Document.prototype, "hidden", { get: () => hidden, configurable: true });
  window.__setHidden = (value) => { hidden = value; document.dispatchEvent(new Event("visibilitychange")); };
})();"""


@pytest.fixture(scope="module")
def alice(web: Server) -> User:
    return new_user(web.http, username=f"alice_{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def bob(web: Server) -> User:
    return new_user(web.http, username=f"bob_{uuid.uuid4().hex[:6]}")


def signed_in(people, web: Server, user: User, *, permission: str | None = None, **kw) -> Chat:
    """A browser context with ``user``'s session (the cookies of its sign-up), the page hooks installed."""
    chat = people(**kw)
    chat.context.add_cookies([{"name": c.name, "value": c.value, "url": web.http} for c in user.browser.jar])
    chat.context.add_init_script(PAGE_HOOKS % json.dumps(permission))
    return chat


def api(web: Server, user: User, method: str, path: str, body: object = None) -> dict:
    answer = request(web.http, method, "/api/v1" + quote(path), body, token=user.token)
    assert answer.status < 300, (method, path, answer.status, answer.text)
    return answer.json if answer.text else {}


def post(web: Server, user: User, room: str, text: str) -> int:
    return api(web, user, "POST", f"/rooms/{room}/messages", {"message": text})["id"]


def png(width: int = 640, height: int = 360, text: str = "parley") -> bytes:
    image = Image.new("RGB", (width, height), (47, 91, 211))
    ImageDraw.Draw(image).rectangle((20, 20, width - 20, height - 20), outline=(255, 255, 255), width=6)
    ImageDraw.Draw(image).text((40, 40), text, fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def pdf(size: int = 3000) -> bytes:
    head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n"
    return head + b"%" * (size - len(head) - 6) + b"\n%%EOF"


def message(chat: Chat, id_: int) -> Locator:
    return chat.page.locator(f'#log li.msg[data-id="{id_}"]')


def last_message(chat: Chat) -> Locator:
    return chat.page.locator("#log li.msg").last


def enter_room(chat: Chat, room: str) -> None:
    chat.goto(room_path(room))
    chat.expect_live()


# --- Markdown ------------------------------------------------------------------------------------


def test_markdown_shows_highlighted_code_tables_links_and_payloads_as_text(people, web, alice, bob):
    room = unique("md")
    first = post(web, bob, room, MARKDOWN)
    for payload in PAYLOADS:
        post(web, bob, room, payload)
    post(web, bob, room, f"@{alice.name} can you look?")
    reader = signed_in(people, web, alice)
    enter_room(reader, room)
    reader.wait_for_count(4)

    for _ in range(2):  # live history on entering, then the same after a reload
        body = message(reader, first).locator(".body")
        code = body.locator("pre > code")
        expect(code).to_have_class("language-python")
        expect(code.locator("span.k").first).to_have_text("def")  # highlighted: classes, no style attribute
        expect(code.locator("span.nf")).to_have_text("greet")
        assert body.locator("[style]").count() == 0
        assert code.evaluate("el => el.textContent") == CODE  # white space kept
        styles = code.evaluate(
            "el => { const s = getComputedStyle(el); const p = getComputedStyle(el.parentElement);"
            " return [s.whiteSpace, s.fontFamily, p.overflowX, getComputedStyle(el.querySelector('.k')).fontWeight]; }"
        )
        assert styles[0] == "pre" and "monospace" in styles[1] and styles[2] == "auto" and styles[3] == "700", styles
        expect(body.locator("strong")).to_have_text("the fix")
        expect(body.locator("p > code")).to_have_text("inline()")
        expect(body.locator("th").nth(1)).to_have_class("align-right")
        expect(body.locator("td").first).to_have_text("민준")
        link = body.locator("a")
        expect(link).to_have_attribute("href", "https://docs.djangoproject.com/")
        expect(link).to_have_attribute("target", "_blank")
        expect(link).to_have_attribute("rel", "noopener noreferrer nofollow ugc")
        # The payloads are text: no element, no handler, no javascript: link.
        expect(message(reader, first + 1).locator(".body")).to_have_text(PAYLOADS[0])
        expect(message(reader, first + 2).locator(".body")).to_contain_text("[click](javascript:alert(2))")
        assert reader.page.locator("#log img, #log [onerror], #log a[href^=javascript]").count() == 0
        assert reader.page.evaluate("window.__pwned") is None and reader.dialogs == []
        mention = message(reader, first + 3).locator(".body .mention")
        expect(mention).to_have_text(f"@{alice.name}")
        expect(message(reader, first + 3)).to_have_class("msg mentioned")
        reader.page.reload()
        reader.expect_live()

    # An edit renders again, for everyone.
    writer = signed_in(people, web, bob)
    enter_room(writer, room)
    writer.send("plain for now")
    expect(last_message(reader).locator(".body")).to_have_text("plain for now")
    own = last_message(writer)
    own.hover()
    own.locator(".tools .edit").click()
    writer.page.locator("#log .edit-box").fill("now **bold** and `code`")
    writer.page.locator("#log .edit-box").press("Enter")
    expect(last_message(reader).locator(".body strong")).to_have_text("bold")
    expect(last_message(reader).locator(".body code")).to_have_text("code")
    expect(last_message(writer).locator(".body strong")).to_have_text("bold")


# --- The composer --------------------------------------------------------------------------------


def test_shift_enter_the_code_block_button_and_the_preview(people, web, alice):
    room = unique("composer")
    chat = signed_in(people, web, alice)
    enter_room(chat, room)
    box = chat.page.locator("#message")

    box.press_sequentially("x = 1")
    box.press("Shift+Enter")
    box.press_sequentially("print(x)")
    expect(box).to_have_value("x = 1\nprint(x)")  # a new line, nothing sent
    expect(chat.page.locator("#outbox li")).to_have_count(0)

    # The selection in a block; the cursor after the opening fence, for the language.
    box.press("ControlOrMeta+a")
    chat.page.click("#code-block")
    expect(box).to_have_value("```\nx = 1\nprint(x)\n```")
    box.press_sequentially("python")
    expect(box).to_have_value("```python\nx = 1\nprint(x)\n```")

    chat.page.click("#preview-toggle")
    preview = chat.page.locator("#preview")
    expect(preview).to_be_visible()
    expect(chat.page.locator("#preview-toggle")).to_have_attribute("aria-pressed", "true")
    expect(preview.locator("pre code span.n").first).to_have_text("x")
    box.press("ControlOrMeta+End")
    box.press("Shift+Enter")
    box.press_sequentially("**done**")
    expect(preview.locator("strong")).to_have_text("done")  # it follows the text

    box.press("Enter")
    expect(preview).to_be_hidden()  # sent: back to writing
    expect(box).to_have_value("")
    expect(last_message(chat).locator(".body pre code .n").first).to_have_text("x")

    # Nothing selected: an empty block, the cursor inside it.
    box.press_sequentially("look:")
    chat.page.click("#code-block")
    box.press_sequentially("pass")
    expect(box).to_have_value("look:\n```\npass\n```")
    chat.page.click("#preview-toggle")
    expect(preview.locator("pre code")).to_have_text("pass\n")
    chat.page.click("#preview-toggle")
    expect(preview).to_be_hidden()


# --- Files and images ----------------------------------------------------------------------------


def slow_uploads(chat: Chat, bytes_per_second: int | None) -> None:
    """Chromium's network throttling on the page's requests (None: full speed again)."""
    cdp = chat.context.new_cdp_session(chat.page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": bytes_per_second or -1},
    )


def history(web: Server, user: User, room: str) -> list[dict]:
    return api(web, user, "GET", f"/rooms/{room}/messages")["messages"]


def test_attached_image_and_file_upload_with_progress_and_show_as_thumbnail_and_chip(people, web, alice, bob):
    room = unique("files")
    sender = signed_in(people, web, alice)
    reader = signed_in(people, web, bob)
    enter_room(sender, room)
    enter_room(reader, room)
    picture, document = png(1200, 675, "screenshot"), pdf(150_000)

    slow_uploads(sender, 100_000)  # 1.5 s for the PDF: its progress can be seen
    sender.page.set_input_files(
        "#attach-input",
        [
            {"name": "화면.png", "mimeType": "image/png", "buffer": picture},
            {"name": "lecture notes.pdf", "mimeType": "application/pdf", "buffer": document},
        ],
    )
    tray = sender.page.locator("#uploads li.upload")
    expect(tray).to_have_count(2)
    expect(tray.nth(1).locator(".name")).to_have_text("lecture notes.pdf")
    sender.page.fill("#message", "```python\nprint('the slides')\n```")
    sender.page.click("#preview-toggle")
    expect(sender.page.locator("#preview pre")).to_be_visible()
    sender.page.wait_for_function(
        "() => { const p = document.querySelectorAll('#uploads progress')[1];"
        " return p && p.value > 0 && p.value < 100; }"
    )
    sender.page.screenshot(path=ARTIFACTS / "uploads-tray.png")
    sender.page.click("#preview-toggle")
    sender.page.fill("#message", "the slides and a screenshot")
    sender.page.locator("#message").press("Enter")  # sent at once; the message waits for its files
    pending = sender.page.locator("#outbox li.pending")
    expect(pending.locator(".note")).to_have_text("Uploading files…")
    expect(pending.locator("li.upload")).to_have_count(2)
    expect(tray).to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    sender.page.screenshot(path=ARTIFACTS / "uploads-pending.png")
    slow_uploads(sender, None)

    for chat in (sender, reader):
        shown = last_message(chat)
        expect(shown.locator(".body")).to_have_text("the slides and a screenshot")
        image = shown.locator(".attachments a.image img")
        expect(image).to_have_attribute("alt", "화면.png")
        expect(image).to_have_attribute("width", "320")  # 1200x675 fitted in 320x240, set before it loads
        expect(image).to_have_attribute("height", "180")
        expect(image).to_have_attribute("src", re.compile(r"^/files/\d+/thumbnail/"))
        chat.page.wait_for_function(
            "() => { const i = document.querySelector('#log li.msg:last-child .attachments img');"
            " return i && i.complete && i.naturalWidth === 400; }"
        )
        chip = shown.locator(".attachments .file")
        expect(chip.locator(".name")).to_have_text("lecture notes.pdf")
        expect(chip.locator(".name")).to_have_attribute("download", "lecture notes.pdf")
        expect(chip.locator(".size")).to_have_text("146.5 kB")
        expect(chip.locator(".type")).to_have_text("application/pdf")
    expect(pending).to_have_count(0)

    # A click on the image shows it full size in the page; Esc closes it.
    reader.page.locator("#log li.msg").last.locator("a.image").click()
    lightbox = reader.page.locator("#lightbox")
    expect(lightbox).to_be_visible()
    expect(reader.page.locator("#lightbox-name")).to_have_text("화면.png")
    reader.page.wait_for_function("() => document.getElementById('lightbox-image').naturalWidth === 1200")
    reader.page.screenshot(path=ARTIFACTS / "lightbox.png")
    expect(reader.page.locator("#lightbox-image")).to_have_attribute(
        "src", re.compile(r"/files/\d+/%ED%99%94%EB%A9%B4\.png$")
    )
    reader.page.keyboard.press("Escape")
    expect(lightbox).to_be_hidden()
    # The keyboard reaches it too: the image is a link.
    reader.page.locator("#log li.msg").last.locator("a.image").focus()
    reader.page.keyboard.press("Enter")
    expect(lightbox).to_be_visible()
    reader.page.click("#lightbox-close")
    expect(lightbox).to_be_hidden()

    [stored] = history(web, bob, room)
    assert [a["name"] for a in stored["attachments"]] == ["화면.png", "lecture notes.pdf"]


PASTE = """([name, b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, { type: "image/png" }));
  const event = new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true });
  document.getElementById("message").dispatchEvent(event);
  return event.defaultPrevented;
}"""

FILES = """(files) => {
  const data = new DataTransfer();
  for (const [name, text] of files) data.items.add(new File([text], name, { type: "text/plain" }));
  return data;
}"""


def test_a_pasted_image_and_dropped_files_are_attached(people, web, alice, bob):
    room = unique("paste")
    chat = signed_in(people, web, alice)
    enter_room(chat, room)
    chat.page.locator("#message").focus()
    taken = chat.page.evaluate(PASTE, ["image.png", base64.b64encode(png(300, 200)).decode()])
    assert taken  # an image alone on the clipboard is not pasted as text
    tray = chat.page.locator("#uploads li.upload")
    expect(tray).to_have_count(1)
    expect(tray.locator(".name")).to_have_text(re.compile(r"^pasted-\d{8}-\d{6}\.png$"))
    expect(tray).to_have_attribute("data-state", "done")
    chat.page.locator("#message").press("Enter")  # a file and no text
    shown = last_message(chat)
    expect(shown.locator(".attachments img")).to_have_attribute("width", "300")
    expect(shown.locator(".body")).to_be_hidden()  # no empty bubble

    data = chat.page.evaluate_handle(FILES, [["notes.txt", "print('hi')\n"], ["data.csv", "a,b\n1,2\n"]])
    chat.page.dispatch_event("#scroller", "dragenter", {"dataTransfer": data})
    expect(chat.page.locator("#chat")).to_have_class(re.compile(r"\bdropping\b"))
    chat.page.dispatch_event("#scroller", "dragover", {"dataTransfer": data})
    chat.page.dispatch_event("#scroller", "drop", {"dataTransfer": data})
    expect(chat.page.locator("#chat")).not_to_have_class(re.compile(r"\bdropping\b"))
    expect(tray).to_have_count(2)
    tray.nth(1).locator(".remove").click()  # taken back before sending
    expect(tray).to_have_count(1)
    expect(tray).to_have_attribute("data-state", "done")
    chat.page.fill("#message", "just the notes")
    chat.page.locator("#message").press("Enter")
    chip = last_message(chat).locator(".attachments .file")
    expect(chip.locator(".name")).to_have_text("notes.txt")
    expect(chip.locator(".size")).to_have_text("12 byte")
    expect(chip.locator(".type")).to_have_text("text/plain")
    messages = history(web, bob, room)
    assert [(m["message"], [a["name"] for a in m["attachments"]]) for m in messages][1] == (
        "just the notes",
        ["notes.txt"],
    )
    assert messages[0]["message"] == "" and messages[0]["attachments"][0]["content_type"] == "image/png"


def test_too_large_a_file_or_too_many_are_refused_in_the_page(people, web, bob):
    room = unique("limits")
    chat = signed_in(people, web, bob, locale="ko-KR")
    held: list = []
    chat.page.route("**/uploads", lambda route: held.append(route))  # uploads that never finish: they stay in the tray
    chat.context.add_cookies([{"name": "django_language", "value": "ko", "url": web.http}])
    enter_room(chat, room)
    big = chat.page.evaluate_handle(
        "() => { const data = new DataTransfer();"
        " data.items.add(new File([new Uint8Array(10 * 1024 * 1024 + 1)], 'huge.bin')); return data; }"
    )
    chat.page.dispatch_event("#scroller", "drop", {"dataTransfer": big})
    expect(chat.page.locator("#notice")).to_have_text(
        re.compile(r"^“huge\.bin” 파일이 너무 큽니다\. 파일은 10\s?MB까지")
    )
    expect(chat.page.locator("#uploads")).to_be_hidden()
    many = chat.page.evaluate_handle(FILES, [[f"{i}.txt", "x"] for i in range(12)])
    chat.page.dispatch_event("#scroller", "drop", {"dataTransfer": many})
    expect(chat.page.locator("#notice")).to_have_text("메시지 하나에 파일은 10개까지 첨부할 수 있습니다.")
    expect(chat.page.locator("#uploads li.upload")).to_have_count(10)
    expect(chat.page.locator("#uploads li.upload").last.locator(".name")).to_have_text("9.txt")


def test_an_upload_the_network_interrupts_is_sent_once_with_its_message_when_back(people, web, alice, bob):
    """Offline: the file waits, the message waits for it. Back online: the upload's first attempt is
    cut by the network (Chromium's offline mode does not cut a request under way, so a route does),
    the next one goes through, and the message goes once, with its file, on the new socket."""
    room = unique("offline")
    sender = signed_in(people, web, alice)
    reader = signed_in(people, web, bob)
    enter_room(sender, room)
    enter_room(reader, room)
    attempts: list[str] = []

    def flaky(route) -> None:
        attempts.append(route.request.method)
        if len(attempts) == 1:
            route.abort("internetdisconnected")
        else:
            route.continue_()

    sender.page.route("**/uploads", flaky)
    sender.context.set_offline(True)
    expect(sender.page.locator("#status")).to_have_attribute("data-state", "reconnecting")
    sender.page.set_input_files(
        "#attach-input", {"name": "report.pdf", "mimeType": "application/pdf", "buffer": pdf(120_000)}
    )
    sender.page.fill("#message", "sent on a train")
    sender.page.locator("#message").press("Enter")
    upload = sender.page.locator("#outbox li.upload")
    expect(upload).to_have_attribute("data-state", "waiting")
    expect(upload.locator(".state")).to_have_text("Waiting for the connection…")
    expect(sender.page.locator("#outbox li.pending .note")).to_have_text("Uploading files…")
    assert attempts == []

    sender.context.set_offline(False)
    for chat in (sender, reader):
        expect(last_message(chat).locator(".attachments .file .name")).to_have_text("report.pdf")
        expect(last_message(chat).locator(".body")).to_have_text("sent on a train")
    expect(sender.page.locator("#outbox li")).to_have_count(0)
    assert attempts == ["POST", "POST"]  # cut once, then sent
    reader.page.reload()  # nothing doubled, on the server either
    reader.expect_live()
    reader.wait_for_count(1)
    [stored] = history(web, bob, room)
    assert stored["message"] == "sent on a train" and [a["name"] for a in stored["attachments"]] == ["report.pdf"]


def test_guests_and_a_namespace_without_uploads_have_no_attach_button(people, web, alice, bob):
    guest = people()
    guest.join(unique("guests"), "손님")
    expect(guest.page.locator("#code-block")).to_be_visible()  # Markdown is everyone's
    expect(guest.page.locator("#preview-toggle")).to_be_visible()
    expect(guest.page.locator("#attach, #attach-input")).to_have_count(0)
    expect(guest.page.locator("#notify")).to_have_count(0)  # notifications are an account's
    guest.page.fill("#message", "**hi** from a guest")
    guest.page.click("#preview-toggle")  # the preview works for a guest too
    expect(guest.page.locator("#preview strong")).to_have_text("hi")

    ns = f"파일없음{uuid.uuid4().int % 10**6:06d}"  # no Latin word: the Korean pages list it (test_pages)
    api(web, bob, "POST", "/ns", {"name": ns, "visibility": "open"})
    api(web, bob, "PATCH", f"/ns/{ns}", {"uploads": False})
    api(web, bob, "POST", f"/ns/{ns}/rooms", {"name": "lobby"})
    member = signed_in(people, web, alice)
    member.goto(f"/ns/{ns}/{quote('lobby')}/")
    member.expect_live()
    expect(member.page.locator("#attach, #attach-input")).to_have_count(0)
    expect(member.page.locator("#notify-level")).to_be_visible()
    member.page.locator("#message").focus()
    assert not member.page.evaluate(PASTE, ["image.png", base64.b64encode(png(64, 64)).decode()])
    expect(member.page.locator("#uploads")).to_be_hidden()


# --- Notifications -------------------------------------------------------------------------------

NOTES = "() => window.__notes.map((n) => [n.title, n.body, n.tag])"
ICON = "() => document.querySelector('link[rel~=icon]').href"


def hide(chat: Chat, hidden: bool = True) -> None:
    chat.page.evaluate("(hidden) => window.__setHidden(hidden)", hidden)


def notes(chat: Chat) -> list[list[str]]:
    return chat.page.evaluate(NOTES)


def test_a_mention_or_a_direct_message_while_the_tab_is_hidden_is_one_notification(people, web, alice, bob):
    room = unique("notify")
    chat = signed_in(people, web, alice)
    chat.context.grant_permissions(["notifications"], origin=web.http)
    enter_room(chat, room)
    expect(chat.page.locator("#notify-level")).to_have_value("mentions")
    expect(chat.page.locator("#notify-permission")).to_be_hidden()  # granted already
    title = f"{room} · Parley"
    expect(chat.page).to_have_title(title)

    hide(chat)
    post(web, bob, room, "hello everyone")
    chat.wait_for_count(1)
    expect(chat.page).to_have_title(f"• {title}")  # new, but not for us
    mentioned = post(web, bob, room, f"@{alice.name} could you look at line 3?")
    expect(chat.page).to_have_title(f"(1) {title}")
    url = f"/rooms/{room}/#m{mentioned}"
    assert notes(chat) == [[f"{bob.name} mentioned you in #{room}", f"@{alice.name} could you look at line 3?", url]]
    assert chat.page.evaluate(ICON).startswith("data:image/png;base64,")  # the badge
    chat.page.evaluate("() => window.__notes[0].onclick()")  # the reader clicks it: the message
    expect(chat.page).to_have_url(web.http + url)
    expect(message(chat, mentioned)).to_have_class(re.compile(r"\blinked\b"))
    hide(chat, False)
    expect(chat.page).to_have_title(title)
    assert chat.page.evaluate(ICON).endswith("/static/chat/icon.svg")

    # A direct message that names us brings a mention frame and a dm frame: one notification.
    hide(chat)
    dm = api(web, bob, "POST", f"/dm/{alice.name}/messages", {"message": f"@{alice.name} are you there?"})["id"]
    # A later mention is a barrier: the user channel is in order, so both frames of the pair came before it.
    later = post(web, bob, room, f"@{alice.name} ping")
    chat.page.wait_for_function(f"() => window.__notes.some((n) => n.tag.endsWith('#m{later}'))")
    expect(chat.page.locator("#mention-count")).to_have_text("3")
    assert notes(chat)[1] == [
        f"{bob.name} sent you a direct message",
        f"@{alice.name} are you there?",
        f"/dm/{bob.name}/#m{dm}",
    ]
    assert len(notes(chat)) == 3
    expect(chat.page).to_have_title(f"(2) {title}")
    chat.page.evaluate("() => window.__notes[1].onclick()")
    expect(chat.page).to_have_url(f"{web.http}/dm/{bob.name}/#m{dm}")  # another page: opened
    chat.expect_live()
    expect(message(chat, dm)).to_have_class(re.compile(r"\blinked\b"))


def test_the_notification_level_is_kept_on_the_server_and_obeyed(people, web, alice, bob):
    room = unique("level")
    post(web, bob, room, "the room exists")
    chat = signed_in(people, web, alice)
    chat.context.grant_permissions(["notifications"], origin=web.http)
    enter_room(chat, room)
    level = chat.page.locator("#notify-level")
    with chat.page.expect_response(lambda r: r.url.endswith("/notifications") and r.request.method == "PUT"):
        level.select_option("all")
    assert api(web, alice, "GET", f"/rooms/{room}/notifications") == {"level": "all"}
    chat.page.reload()
    chat.expect_live()
    expect(level).to_have_value("all")  # kept

    hide(chat)
    news = post(web, bob, room, "class starts at 10")
    chat.page.wait_for_function("() => window.__notes.length === 1")
    assert notes(chat) == [[f"{bob.name} in #{room}", "class starts at 10", f"/rooms/{room}/#m{news}"]]
    named = post(web, bob, room, f"@{alice.name} and bring your laptop")
    expect(chat.page.locator("#mention-count")).to_have_text("1")
    chat.page.wait_for_function("() => window.__notes.length === 2")
    assert notes(chat)[1] == [
        f"{bob.name} mentioned you in #{room}",
        f"@{alice.name} and bring your laptop",
        f"/rooms/{room}/#m{named}",
    ]
    expect(chat.page).to_have_title(f"(1) {room} · Parley")  # the mentions; the other was news

    hide(chat, False)
    with chat.page.expect_response(lambda r: r.url.endswith("/notifications") and r.request.method == "PUT"):
        level.select_option("none")
    hide(chat)
    post(web, bob, room, f"@{alice.name} last call")
    post(web, bob, room, "and a plain one")
    expect(chat.page.locator("#mention-count")).to_have_text("2")  # the mention came, quietly
    chat.wait_for_count(5)
    assert len(notes(chat)) == 2
    expect(chat.page).to_have_title(f"• {room} · Parley")
    assert api(web, alice, "GET", f"/rooms/{room}/notifications") == {"level": "none"}


def test_the_permission_is_asked_for_from_a_button_never_on_load(people, web, alice):
    room = unique("permission")
    chat = signed_in(people, web, alice, permission="default")
    enter_room(chat, room)
    button = chat.page.locator("#notify-permission")
    expect(button).to_be_visible()
    assert chat.page.evaluate("window.__asked") == 0
    button.click()
    expect(button).to_be_hidden()
    assert chat.page.evaluate("window.__asked") == 1
    expect(chat.page.locator("#notify-note")).to_be_hidden()

    blocked = signed_in(people, web, alice, permission="denied")
    enter_room(blocked, room)
    expect(blocked.page.locator("#notify-permission")).to_be_hidden()
    expect(blocked.page.locator("#notify-note")).to_be_visible()
    assert blocked.page.evaluate("window.__asked") == 0
