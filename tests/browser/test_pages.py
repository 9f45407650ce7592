"""Every page a class meets, as its people meet them, in Chromium: a screenshot of each in Korean and
English at desktop and phone sizes (tests/artifacts/pages/, for a person to look at), no English word
on a Korean page outside what users wrote and a short allowlist, no page wider than a phone; and the
pages' own behaviour: the composer's counter, a question before a ban, the namespace page's live
figures."""

from __future__ import annotations

import io
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect

from tests.api.client import PASSWORD, User, new_user, request
from tests.browser.conftest import ARTIFACTS, Chat, Server

SCREENS = ARTIFACTS / "pages"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# English that a Korean page may show: the product's name, the English language's own name in the
# language menu, the names of keys, protocols, formats and products (Slack, whose webhook format
# Parley takes), and units of file sizes, which are the same in Korean.
ALLOWED = {
    "Parley", "English", "API", "Enter", "Shift", "Esc", "URL", "UTC", "NUL", "kB", "MB", "GB",
    "WebSocket", "JSON", "Slack",
}  # fmt: skip
# What is not the page's own words: code, what users wrote (namespace names in the room list: other
# tests' are English), form values, other languages' names, a file's content type (a name, the same in
# Korean).
NOT_PAGE_WORDS = (
    "code, pre, script, style, template, .user-text, .body, .sender, td.name > a, input, textarea, [lang]:not(html),"
    " #namespaces li[data-ns] > a, .file .name, .file .type"
)
# A message with Markdown and highlighted code, for the room page's screenshots.
CODE_MESSAGE = """오늘 배운 **뷰 함수**예요. `JsonResponse`로 목록을 돌려줍니다:

```python
from django.http import JsonResponse

def 방_목록(request):
    # 방 이름들을 JSON으로
    return JsonResponse({"방": ["과제", "질문"], "개수": 2})
```

> 질문은 스레드에 남겨 주세요."""

# Visible text (and what a screen reader says: aria-label, placeholder, title) outside NOT_PAGE_WORDS.
VISIBLE_WORDS = """(exclude) => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest(exclude) || !el.checkVisibility()) continue;
    if (node.textContent.trim()) out.push(node.textContent.trim());
  }
  for (const el of document.body.querySelectorAll("[aria-label], [placeholder], [title]")) {
    if (el.closest(exclude.replace(", input, textarea", "")) || !el.checkVisibility()) continue;
    for (const name of ["aria-label", "placeholder", "title"]) {
      if (el.getAttribute(name)) out.push(el.getAttribute(name));
    }
  }
  return out;
}"""


def english_words(page: Page) -> list[str]:
    """The English words the page shows as its own (two or more Latin letters, not allowed)."""
    texts = page.evaluate(VISIBLE_WORDS, NOT_PAGE_WORDS)
    found = []
    for text in texts:
        for word in re.findall(r"[A-Za-z][A-Za-z']+", text):
            if word not in ALLOWED:
                found.append(f"{word!r} in {text[:80]!r}")
    return found


def digits() -> str:
    """A suffix for names that holds no Latin letter (names are user content, in Korean here)."""
    return str(secrets.randbelow(10**6)).zfill(6)


@dataclass
class World:
    ns: str
    teacher: User
    student: User
    rowdy: User
    banned: User
    valid_invite: str
    used_invite: str


def account(web: Server, prefix: str) -> User:
    return new_user(web.http, username=f"{prefix}{digits()}")


@pytest.fixture(scope="module")
def world(web: Server) -> World:
    """A class as it is after a week: a namespace with a public and a private room, messages (a
    mention, a reply), a DM, invites, a mute, a ban, a kick, tokens. Every name and text is Korean,
    so that English on a Korean page can only be the page's own words."""
    teacher, student, rowdy, banned = (account(web, p) for p in ("선생님", "학생", "떠든학생", "차단된학생"))
    ns = f"수업{digits()}"

    def api(user: User, method: str, path: str, body: object = None) -> dict:
        answer = request(web.http, method, "/api/v1" + quote(path), body, token=user.token)
        assert answer.status < 300, (method, path, answer.status, answer.text)
        return answer.json if answer.text else {}

    api(teacher, "POST", "/ns", {"name": ns, "visibility": "open"})
    for user in (student, rowdy, banned):
        api(teacher, "POST", f"/ns/{ns}/members", {"username": user.name})
    api(teacher, "POST", f"/ns/{ns}/rooms", {"name": "과제", "private": False})
    api(teacher, "POST", f"/ns/{ns}/rooms", {"name": "비밀방", "private": True})
    api(teacher, "POST", f"/ns/{ns}/rooms/비밀방/members", {"username": student.name})
    hello = api(
        teacher, "POST", f"/ns/{ns}/rooms/과제/messages", {"message": f"@{student.name} 숙제는 금요일까지예요."}
    )
    api(student, "POST", f"/ns/{ns}/rooms/과제/messages", {"message": "네, 알겠습니다!", "reply_to": hello["id"]})
    api(rowdy, "POST", f"/ns/{ns}/rooms/과제/messages", {"message": "ㅋㅋㅋㅋ"})
    api(teacher, "POST", f"/ns/{ns}/rooms/과제/messages", {"message": CODE_MESSAGE})
    shot = upload(web, student, f"/ns/{ns}/rooms/과제/uploads", "오류 화면.png", screenshot_png())
    notes = upload(web, teacher, f"/ns/{ns}/rooms/과제/uploads", "3주차 강의자료.pdf", b"%PDF-1.4\n" + b"%" * 150_000)
    api(student, "POST", f"/ns/{ns}/rooms/과제/messages", {"message": "이 오류가 나요 😢", "attachments": [shot]})
    api(teacher, "POST", f"/ns/{ns}/rooms/과제/messages", {"message": "자료 올렸어요", "attachments": [notes]})
    api(teacher, "POST", f"/dm/{student.name}/messages", {"message": "발표 준비는 잘 되고 있나요?"})
    valid = api(teacher, "POST", f"/ns/{ns}/invites", {"max_uses": 30})["code"]
    used = api(teacher, "POST", f"/ns/{ns}/invites", {"max_uses": 1})["code"]
    newcomer = account(web, "전학생")
    api(newcomer, "POST", f"/ns/{ns}/join", {"code": used})
    api(teacher, "POST", f"/ns/{ns}/mutes", {"username": rowdy.name, "seconds": 3600, "reason": "수업 중 잡담"})
    api(teacher, "POST", f"/ns/{ns}/rooms/과제/kick", {"username": newcomer.name, "reason": "자리 이동"})
    api(teacher, "POST", f"/ns/{ns}/bans", {"username": banned.name, "seconds": 86400, "reason": "반복된 욕설"})
    api(teacher, "PATCH", f"/ns/{ns}", {"max_message_chars": 500, "edit_window": 600})
    return World(ns, teacher, student, rowdy, banned, valid, used)


def upload(web: Server, user: User, path: str, name: str, data: bytes) -> int:
    """A file uploaded through the API (multipart, field ``file``): its id."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    answer = request(
        web.http,
        "POST",
        "/api/v1" + quote(path),
        raw=body,
        token=user.token,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert answer.status == 201, answer.text
    return answer.json["id"]


def screenshot_png() -> bytes:
    """A screenshot of a traceback, as a student would paste one."""
    image = Image.new("RGB", (960, 540), (30, 34, 44))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 960, 36), fill=(192, 57, 43))
    draw.text((16, 12), "TemplateDoesNotExist at /rooms/", fill=(255, 255, 255))
    for i, line in enumerate(
        [
            "Traceback (most recent call last):",
            '  File "views.py", line 12, in room',
            "    return render(request, 'room.html')",
            "TemplateDoesNotExist: room.html",
        ]
    ):
        draw.text((24, 70 + 28 * i), line, fill=(220, 224, 232))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def log_in(chat: Chat, user: User) -> None:
    chat.goto("/accounts/login/")
    chat.page.fill("#id_username", user.name)
    chat.page.fill("#id_password", PASSWORD)
    chat.page.click("#login-form button[type=submit]")
    expect(chat.page.locator(".whoami")).to_contain_text(user.name)


def live(chat: Chat) -> None:
    chat.expect_live()


def settled(chat: Chat) -> None:
    chat.page.wait_for_load_state("networkidle")


def shoot(chat: Chat, web: Server, name: str, path: str, ready: Callable[[Chat], None], problems: list[str]) -> None:
    """Open ``path`` in Korean then English, each at desktop and phone size: a screenshot of each,
    the Korean one's English words and any page wider than the phone noted in ``problems``."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    for language in ("ko", "en"):
        chat.context.add_cookies([{"name": "django_language", "value": language, "url": web.http}])
        chat.page.set_viewport_size(DESKTOP)
        chat.goto(path)
        ready(chat)
        for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            chat.page.set_viewport_size(viewport)
            chat.page.wait_for_timeout(50)  # the layout of the new width
            chat.page.screenshot(path=SCREENS / f"{name}-{language}-{size}.png", full_page=size == "desktop")
            if language == "ko":
                problems += [f"{name} ({size}): {word}" for word in english_words(chat.page)]
            if size == "phone":
                width = chat.page.evaluate("document.documentElement.scrollWidth")
                if width > PHONE["width"] + 1:
                    problems.append(f"{name}: {width} px wide on a {PHONE['width']} px phone")


def test_every_page_in_both_languages_with_no_english_on_a_korean_page(people, web, world):
    ns = quote(world.ns)
    problems: list[str] = []
    anonymous = people()
    for name, path, ready in [
        ("index-anonymous", "/", settled),
        ("login", "/accounts/login/", settled),
        ("signup", "/accounts/signup/", settled),
        ("namespace-anonymous", f"/ns/{ns}/", settled),
        ("guest-name", f"/ns/{ns}/{quote('과제')}/", settled),
        ("join-anonymous", f"/ns/{ns}/join/{world.valid_invite}/", settled),
        ("join-used-up", f"/ns/{ns}/join/{world.used_invite}/", settled),
        ("not-found", f"/ns/{ns}/{quote('없는방')}/없는/", settled),
        ("bad-request", "/rooms/a%00b/", settled),
        ("bad-room-name", "/rooms/..../", settled),
    ]:
        shoot(anonymous, web, name, path, ready, problems)

    student = people()
    log_in(student, world.student)
    request(
        web.http, "POST", "/api/v1/tokens", {"username": world.student.name, "password": PASSWORD, "name": "노트북"}
    )
    for name, path, ready in [
        ("index", "/", settled),
        ("namespace", f"/ns/{ns}/", settled),
        ("room", f"/ns/{ns}/{quote('과제')}/", live),
        ("private-room", f"/ns/{ns}/{quote('비밀방')}/", live),
        ("mentions", "/mentions/", settled),
        ("dm", f"/dm/{quote(world.teacher.name)}/", live),
        ("tokens", "/accounts/tokens/", settled),
        ("forbidden", f"/ns/{ns}/members/", settled),
        ("search", f"/search/?q={quote('과제')}", settled),
    ]:
        shoot(student, web, name, path, ready, problems)

    teacher = people()
    log_in(teacher, world.teacher)
    for name, path, ready in [
        ("members", f"/ns/{ns}/members/", settled),
        ("audit", f"/ns/{ns}/audit/", settled),
        ("settings", f"/ns/{ns}/settings/", settled),
        ("bots", f"/ns/{ns}/bots/", settled),
        ("hooks", f"/ns/{ns}/hooks/", settled),
        ("room-moderator", f"/ns/{ns}/{quote('과제')}/", live),
    ]:
        shoot(teacher, web, name, path, ready, problems)

    rowdy = people()
    log_in(rowdy, world.rowdy)
    shoot(rowdy, web, "room-muted", f"/ns/{ns}/{quote('과제')}/", live, problems)
    banned = people()
    log_in(banned, world.banned)
    shoot(banned, web, "namespace-banned", f"/ns/{ns}/", settled, problems)
    assert not problems, "\n".join(problems)


def test_the_pages_say_what_the_issue_asks_in_korean(people, web, world):
    ns = quote(world.ns)
    student = people(locale="ko-KR")
    student.goto("/")
    # The language menu names each language in itself.
    assert student.page.eval_on_selector_all("#language option", "els => els.map(e => e.textContent)") == [
        "English",
        "한국어",
    ]
    log_in(student, world.student)
    student.goto(f"/ns/{ns}/members/")
    expect(student.page.locator("#error-title")).to_have_text("허용되지 않음")  # Parley's 403, in Korean
    expect(student.page.locator("#error-home")).to_be_visible()  # a way back
    student.goto("/없는/페이지/")
    expect(student.page.locator("#error-page")).to_have_attribute("data-status", "404")
    expect(student.page.locator("header.top")).to_be_visible()

    rowdy = people(locale="ko-KR", timezone="Asia/Seoul")
    log_in(rowdy, world.rowdy)
    rowdy.goto(f"/ns/{ns}/{quote('과제')}/")
    rowdy.expect_live()
    banner = rowdy.page.locator("#banner")
    expect(banner).to_contain_text("채팅이 금지되었습니다")
    assert "Z" not in banner.inner_text() and "until" not in banner.inner_text()  # local time, in Korean
    expect(rowdy.page.locator("#message")).to_be_disabled()

    teacher = people(locale="ko-KR")
    log_in(teacher, world.teacher)
    teacher.goto(f"/ns/{ns}/audit/")
    actions = teacher.page.eval_on_selector_all("#audit td.action", "els => els.map(e => e.textContent)")
    assert {"채팅 금지됨", "차단됨", "내보냄", "설정 변경"} <= set(actions), actions
    details = teacher.page.locator("#audit").inner_text()
    assert "max_message_chars" not in details and "최대 메시지 길이" in details  # the settings' own labels


def test_the_composer_counts_near_the_limit_and_sends_nothing_past_it(people, web, world):
    ns = quote(world.ns)
    student = people()
    log_in(student, world.student)
    student.goto(f"/ns/{ns}/{quote('비밀방')}/")
    student.expect_live()
    counter = student.page.locator("#counter")
    student.page.fill("#message", "가" * 100)
    student.page.locator("#message").press("End")
    expect(counter).to_be_hidden()  # far from the namespace's 500
    student.page.fill("#message", "가" * 450)
    student.page.locator("#message").press_sequentially("나")
    expect(counter).to_have_text("451 / 500")
    student.page.fill("#message", "가" * 600)  # pasted: nothing cut
    student.page.locator("#message").press_sequentially("!")
    expect(counter).to_have_text("601 / 500")
    expect(counter).to_have_class(re.compile(r"\bover\b"))
    student.page.locator("#message").press("Enter")
    assert len(student.page.input_value("#message")) == 601  # kept, not sent, not cut
    expect(student.page.locator("#outbox li")).to_have_count(0)
    student.page.fill("#message", "짧게 고쳤어요")
    student.page.locator("#message").press("Enter")
    expect(student.page.locator("#log li.msg .body").last).to_have_text("짧게 고쳤어요")
    expect(counter).to_be_hidden()


def test_a_ban_is_asked_about_in_the_page_and_a_refusal_is_shown_at_its_form(people, web, world):
    ns = quote(world.ns)
    teacher = people()
    log_in(teacher, world.teacher)
    teacher.goto(f"/ns/{ns}/members/")
    teacher.page.fill("#sanction-username", "없는사람")
    teacher.page.fill("#sanction-reason", "이유")
    teacher.page.click("#ban-button")
    ask = teacher.page.locator(".ask")
    expect(ask).to_be_visible()
    ask.locator("button.link").click()  # cancel: nothing sent
    expect(ask).to_have_count(0)
    teacher.page.click("#ban-button")
    teacher.page.locator(".ask button.danger").click()
    expect(teacher.page.locator("#sanction-error")).to_contain_text("없는사람")  # at the form, not a green banner
    expect(teacher.page.locator(".flash li.success")).to_have_count(0)
    expect(teacher.page.locator("#sanction-username")).to_have_value("없는사람")  # as typed
    expect(teacher.page.locator("#sanction-reason")).to_have_value("이유")


def test_the_namespace_page_keeps_its_figures_current(people, web, world):
    ns = quote(world.ns)
    student = people()
    log_in(student, world.student)
    student.goto(f"/ns/{ns}/")
    row = student.page.locator(f'#ns-rooms tr[data-room="{"과제"}"]')
    before = int(row.locator(".unread").inner_text())
    request(
        web.http,
        "POST",
        f"/api/v1/ns/{ns}/rooms/{quote('과제')}/messages",
        {"message": "새 공지입니다"},
        token=world.teacher.token,
    )
    expect(row.locator(".unread")).to_have_text(str(before + 1))  # without a reload
    room = f"새방{digits()}"
    request(web.http, "POST", f"/api/v1/ns/{ns}/rooms", {"name": room}, token=world.teacher.token)
    request(
        web.http,
        "POST",
        f"/api/v1/ns/{ns}/rooms/{quote(room)}/messages",
        {"message": "첫 글"},
        token=world.teacher.token,
    )
    expect(student.page.locator(f'#ns-rooms tr[data-room="{room}"]')).to_have_count(1)  # a new room appears
