"""The room page and issue 9's events in Chromium: edits, deletes, reactions, replies and threads, the
"New messages" line and the read cursor, mentions, Korean, and a reconnecting page converging on a
fresh one."""

from __future__ import annotations

import re
import time
from urllib.parse import quote

import pytest
from playwright.sync_api import Locator, expect

from tests.browser.conftest import ARTIFACTS, Chat, post, room_path, unique, ws_url

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple 42"

# Every shown message as the reader sees it: id, sender, body, "(edited)", tombstone, the reactions
# (emoji, count, who) and the replies link.
RENDERED = """els => els.map(e => [
  Number(e.dataset.id),
  e.querySelector('.sender').textContent,
  e.querySelector('.body').textContent,
  Boolean(e.querySelector('.edited')),
  e.classList.contains('deleted'),
  [...e.querySelectorAll('.reaction')].map(r => [r.dataset.emoji, r.dataset.count, r.title]),
  e.querySelector('.replies')?.textContent ?? '',
])"""


def rendered(chat: Chat) -> list[list]:
    return chat.page.eval_on_selector_all("#log li.msg", RENDERED)


def message(chat: Chat, id_: int) -> Locator:
    return chat.page.locator(f'#log li.msg[data-id="{id_}"]')


def tool(chat: Chat, id_: int, action: str) -> Locator:
    """A message's button (react, reply, edit, delete): they show when the pointer is over the message."""
    message(chat, id_).hover()
    return message(chat, id_).locator(f".tools .{action}")


def react(chat: Chat, id_: int, emoji: str) -> None:
    tool(chat, id_, "pick").click()
    message(chat, id_).locator(f'.picker button[data-emoji="{emoji}"]').click()


def chip(chat: Chat, id_: int, emoji: str) -> Locator:
    return message(chat, id_).locator(f'.reaction[data-emoji="{emoji}"]')


def sign_up(chat: Chat, room: str, prefix: str) -> str:
    """Make an account and come back to ``room`` logged in; returns the username."""
    username = unique(prefix).replace("-", "_")
    chat.goto(f"/accounts/signup/?next={quote(room_path(room))}")
    chat.page.fill("#id_username", username)
    chat.page.fill("#id_password1", PASSWORD)
    chat.page.fill("#id_password2", PASSWORD)
    chat.page.click("#signup-form button[type=submit]")
    chat.expect_live()
    return username


def hello(chat: Chat, web, room: str) -> dict:
    """The hello frame a new connection of this person (same cookies) gets: read_up_to is the server's cursor."""
    return chat.page.evaluate(
        """url => new Promise((resolve, reject) => {
             const ws = new WebSocket(url);
             ws.onmessage = e => { const f = JSON.parse(e.data); if (f.type === "hello") { ws.close(); resolve(f); } };
             ws.onerror = reject;
           })""",
        ws_url(web, room),
    )


def read_up_to(chat: Chat, web, room: str, expected, timeout: float = 5.0) -> int:
    """Wait until the server's read cursor satisfies ``expected`` (a predicate); returns it."""
    deadline = time.monotonic() + timeout
    while True:
        value = hello(chat, web, room)["read_up_to"]
        if expected(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_edit_your_own_message_inline_and_escape_cancels(people):
    room = unique("edit")
    alice, bob = people(), people()
    alice.join(room, "alice")
    bob.join(room, "bob")
    alice.send("helo wrold")
    bob.send("not yours")
    bob.wait_for_count(2)
    alice.wait_for_count(2)
    expect(tool(alice, 2, "edit")).to_have_count(0)  # only your own messages
    expect(tool(bob, 1, "edit")).to_have_count(0)

    tool(alice, 1, "edit").click()
    box = message(alice, 1).locator("textarea.edit-box")
    expect(box).to_have_value("helo wrold")
    box.fill("something else")
    box.press("Escape")  # cancels: nothing is sent
    expect(box).to_have_count(0)
    expect(message(alice, 1).locator(".body")).to_have_text("helo wrold")

    tool(alice, 1, "edit").click()
    box = message(alice, 1).locator("textarea.edit-box")
    box.fill("hello world")
    box.press("Enter")
    for chat in (alice, bob):
        expect(message(chat, 1).locator(".body")).to_have_text("hello world")
        expect(message(chat, 1).locator(".edited")).to_have_text("(edited)")
        expect(message(chat, 2).locator(".edited")).to_have_count(0)
    bob.send("after the edit")  # the edit took one id, the escaped one none
    expect(message(alice, 4)).to_contain_text("after the edit")


def test_delete_your_own_message_leaves_a_tombstone(people):
    room = unique("delete")
    alice, bob = people(), people()
    alice.join(room, "alice")
    bob.join(room, "bob")
    alice.send("oops, wrong room")
    bob.wait_for_count(1)
    react(bob, 1, "😮")
    expect(chip(alice, 1, "😮")).to_have_text("😮 1")

    tool(alice, 1, "delete").click()
    message(alice, 1).locator(".confirm button.link").click()  # "Cancel"
    expect(message(alice, 1).locator(".confirm")).to_have_count(0)
    expect(message(alice, 1).locator(".body")).to_have_text("oops, wrong room")

    tool(alice, 1, "delete").click()
    expect(message(alice, 1).locator(".confirm")).to_contain_text("Delete this message?")
    message(alice, 1).locator(".confirm button.danger").click()
    for chat in (alice, bob):
        expect(message(chat, 1)).to_have_class(re.compile(r"\bdeleted\b"))
        expect(message(chat, 1).locator(".body.tombstone")).to_have_text("Message deleted")
        expect(message(chat, 1).locator(".reaction, .tools")).to_have_count(0)
        assert "oops" not in message(chat, 1).inner_text()
    bob.page.reload()  # a fresh page shows the same tombstone
    bob.expect_live()
    expect(message(bob, 1).locator(".body.tombstone")).to_have_text("Message deleted")


def test_reactions_toggle_by_click_with_counts_and_who(people):
    room = unique("react")
    alice, bob = people(), people()
    alice.join(room, "alice")
    bob.join(room, "bob")
    alice.send("lunch at noon?")
    bob.wait_for_count(1)

    react(bob, 1, "👍")
    expect(chip(alice, 1, "👍")).to_have_text("👍 1")
    expect(chip(alice, 1, "👍")).to_have_attribute("aria-pressed", "false")
    chip(alice, 1, "👍").click()  # a click on someone's reaction adds ours
    for chat in (alice, bob):
        expect(chip(chat, 1, "👍")).to_have_text("👍 2")
        expect(chip(chat, 1, "👍")).to_have_attribute("title", "bob, alice reacted with 👍")
        expect(chip(chat, 1, "👍")).to_have_attribute("aria-pressed", "true")
    react(alice, 1, "🎉")
    expect(chip(bob, 1, "🎉")).to_have_text("🎉 1")

    chip(bob, 1, "👍").click()  # a click on our own takes it away
    for chat in (alice, bob):
        expect(chip(chat, 1, "👍")).to_have_text("👍 1")
        expect(chip(chat, 1, "👍")).to_have_attribute("title", "alice reacted with 👍")
    expect(chip(bob, 1, "👍")).to_have_attribute("aria-pressed", "false")
    chip(alice, 1, "🎉").click()
    expect(chip(bob, 1, "🎉")).to_have_count(0)

    # On a touch screen a long press shows who reacted (there is no hover), and does not toggle.
    chip(bob, 1, "👍").dispatch_event("pointerdown", {"pointerType": "touch", "bubbles": True})
    expect(message(bob, 1).locator(".who")).to_have_text("alice reacted with 👍")
    chip(bob, 1, "👍").dispatch_event("pointerup", {"pointerType": "touch", "bubbles": True})
    chip(bob, 1, "👍").dispatch_event("click")  # the click that ends the press
    bob.page.wait_for_timeout(300)
    expect(chip(alice, 1, "👍")).to_have_text("👍 1")
    bob.page.reload()
    bob.expect_live()
    expect(chip(bob, 1, "👍")).to_have_attribute("title", "alice reacted with 👍")


def test_reply_and_the_thread_panel(people):
    room = unique("thread")
    alice, bob = people(), people()
    alice.join(room, "alice")
    bob.join(room, "bob")
    bob.send("which page is the homework on?")
    alice.wait_for_count(1)

    tool(alice, 1, "reply").click()
    expect(alice.page.locator("#replying")).to_contain_text("Replying to bob: which page is the homework on?")
    alice.page.locator("#message").press("Escape")  # cancels the reply
    expect(alice.page.locator("#replying")).to_be_hidden()
    alice.send("not a reply")
    tool(alice, 1, "reply").click()
    alice.send("page 12")
    bob.wait_for_count(3)
    for chat in (alice, bob):
        expect(message(chat, 3).locator(".quote")).to_have_text("↪ bob: which page is the homework on?")
        expect(message(chat, 2).locator(".quote")).to_have_count(0)
        expect(message(chat, 1).locator(".replies")).to_have_text("1 reply")
    expect(alice.page.locator("#replying")).to_be_hidden()

    message(bob, 1).locator(".replies").click()
    thread = bob.page.locator("#thread")
    expect(thread).to_be_visible()
    expect(bob.page.locator("#thread-parent li.msg .body")).to_have_text("which page is the homework on?")
    expect(bob.page.locator("#thread-log li.msg .body")).to_have_text(["page 12"])

    tool(alice, 1, "reply").click()
    alice.send("and exercises 3 to 5")  # arrives live in bob's open thread
    expect(bob.page.locator("#thread-log li.msg .body")).to_have_text(["page 12", "and exercises 3 to 5"])
    expect(message(bob, 1).locator(".replies")).to_have_text("2 replies")
    tool(alice, 3, "edit").click()
    box = message(alice, 3).locator("textarea.edit-box")
    box.fill("page 13")
    box.press("Enter")
    expect(bob.page.locator("#thread-log li.msg .body")).to_have_text(["page 13", "and exercises 3 to 5"])

    # A fresh page asks the server for the thread; the reply's quote opens it too.
    carol = people()
    carol.join(room, "carol")
    expect(message(carol, 1).locator(".replies")).to_have_text("2 replies")
    message(carol, 4).locator(".quote").click()
    expect(carol.page.locator("#thread-log li.msg .body")).to_have_text(["page 13", "and exercises 3 to 5"])
    carol.page.click("#thread-close")
    expect(carol.page.locator("#thread")).to_be_hidden()


def test_new_messages_line_and_the_read_cursor_following_the_screen(people, web):
    """A logged-in reader's cursor is the server's: it follows what was on screen, and on entering the
    room "New messages" stands before the first message after it."""
    room = unique("unread")
    post(web, room, [f"old {i}" for i in range(1, 4)])
    ada = people(height=600)
    sign_up(ada, room, "ada")
    expect(ada.page.locator("#new-divider")).to_have_count(0)  # a first visit: no line
    assert read_up_to(ada, web, room, lambda v: v == 3) == 3  # all three were on screen

    ada.goto("/")
    post(web, room, [f"new {i}\nwith a second line\nand a third" for i in range(4, 16)])  # 12 tall messages
    ada.goto(room_path(room))
    ada.expect_live()
    divider = ada.page.locator("#new-divider")
    expect(divider).to_have_text("New messages")
    assert ada.page.evaluate("document.querySelector('#new-divider').nextElementSibling.dataset.id") == "4"
    expect(divider).to_be_in_viewport()
    # Only what has been on screen is read: the page opened at the line, not at the bottom.
    seen = read_up_to(ada, web, room, lambda v: v > 3)
    assert 4 <= seen < 15
    expect(message(ada, 15)).not_to_be_in_viewport()
    ada.page.locator("#scroller").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    assert read_up_to(ada, web, room, lambda v: v == 15) == 15

    # A message arriving while the reader is at the bottom is read at once; the next entry has no line.
    post(web, room, ["newest"])
    expect(message(ada, 16)).to_be_visible()
    assert read_up_to(ada, web, room, lambda v: v == 16) == 16
    ada.page.reload()
    ada.expect_live()
    expect(ada.page.locator("#new-divider")).to_have_count(0)


def test_a_guests_read_cursor_is_kept_in_the_browser(people, web):
    room = unique("guestread")
    post(web, room, ["one", "two"])
    grace = people()
    grace.join(room, "grace")
    expect(grace.page.locator("#new-divider")).to_have_count(0)
    grace.page.wait_for_function(f"localStorage.getItem('parley:read:{room}') === '2'")
    grace.goto("/")
    post(web, room, ["three"])
    grace.join(room)
    assert grace.page.evaluate("document.querySelector('#new-divider').nextElementSibling.dataset.id") == "3"


def test_mentions_are_highlighted_and_badged_across_rooms(people):
    here, there = unique("here"), unique("there")
    ada, bob = people(), people()
    name = sign_up(ada, here, "ada")
    bob.join(there, "bob")
    bob.send(f"@{name}, can you look at this?")
    badge = ada.page.locator("#mentions")
    expect(badge).to_be_visible()
    expect(ada.page.locator("#mention-count")).to_have_text("1")
    expect(ada.page.locator("#mention-text")).to_have_text(f"bob mentioned you in #{there}")
    expect(badge).to_have_attribute("href", f"/rooms/{there}/#m1")
    expect(badge).to_have_attribute("title", f"@{name}, can you look at this?")

    bob.join(here)
    bob.send(f"hi @{name}!")
    bob.send("no mention here")
    ada.wait_for_count(2)
    expect(message(ada, 1)).to_have_class("msg mentioned")
    expect(message(ada, 2)).to_have_class("msg")
    expect(message(bob, 1)).to_have_class("msg mine")  # not bob's mention
    expect(ada.page.locator("#mention-count")).to_have_text("2")
    expect(badge).to_have_attribute("href", f"/rooms/{here}/#m1")

    badge.click()  # the newest mention is in this room: the page shows it
    expect(badge).to_be_hidden()
    expect(message(ada, 1)).to_have_class("msg mentioned linked")
    badge_href = f"/rooms/{there}/#m1"
    ada.goto(badge_href)
    ada.expect_live()
    expect(message(ada, 1)).to_have_class("msg mentioned linked")  # the linked message stands out


def test_korean_words_for_the_new_parts(people):
    room = unique("한국어")
    minjun, alice = people(locale="ko-KR"), people()
    minjun.join(room, "민준")
    alice.join(room, "alice")
    minjun.send("안녕하세요")
    alice.wait_for_count(1)
    tools = message(minjun, 1).locator(".tools button")
    message(minjun, 1).hover()
    expect(tools).to_have_text(["반응", "답글", "수정", "삭제"])
    tool(minjun, 1, "edit").click()
    message(minjun, 1).locator("textarea.edit-box").fill("안녕하세요!")
    message(minjun, 1).locator("textarea.edit-box").press("Enter")
    expect(message(minjun, 1).locator(".edited")).to_have_text("(수정됨)")
    expect(message(alice, 1).locator(".edited")).to_have_text("(edited)")
    tool(minjun, 1, "reply").click()
    expect(minjun.page.locator("#replying")).to_contain_text("민준 님에게 답글: 안녕하세요!")
    minjun.send("답장")
    expect(message(minjun, 1).locator(".replies")).to_have_text("답글 1개")
    tool(minjun, 1, "delete").click()
    expect(message(minjun, 1).locator(".confirm")).to_contain_text("이 메시지를 삭제할까요?")
    message(minjun, 1).locator(".confirm button.danger").click()
    expect(message(minjun, 1).locator(".body")).to_have_text("삭제된 메시지입니다")
    expect(message(alice, 1).locator(".body")).to_have_text("Message deleted")


def test_a_page_that_missed_edits_deletes_and_reactions_shows_what_a_fresh_page_shows(people):
    """Page A is cut off; meanwhile others edit, delete, react and reply. A resumes with ?after= and
    its messages (text, edited marks, tombstones, reaction counts and who, reply counts) are exactly
    what a freshly loaded page B shows."""
    room = unique("converge")
    alice, bob, carol = people(), people(), people()
    alice.join(room, "alice")
    bob.join(room, "bob")
    carol.join(room, "carol")
    bob.send("first")  # 1
    carol.send("second")  # 2
    bob.send("third")  # 3
    alice.send("alice's own")  # 4
    react(alice, 1, "👍")  # 5
    react(carol, 1, "👍")  # 6
    react(carol, 3, "😂")  # 7
    expect(chip(alice, 3, "😂")).to_have_text("😂 1")

    alice.context.set_offline(True)
    expect(alice.page.locator("#status")).to_have_attribute("data-state", "reconnecting")
    tool(bob, 1, "edit").click()
    message(bob, 1).locator("textarea.edit-box").fill("first, edited")
    message(bob, 1).locator("textarea.edit-box").press("Enter")
    expect(message(carol, 1).locator(".edited")).to_have_count(1)
    tool(carol, 2, "delete").click()
    message(carol, 2).locator(".confirm button.danger").click()
    chip(carol, 1, "👍").click()  # carol takes hers back
    react(bob, 1, "👍")
    react(bob, 4, "🎉")  # on alice's message
    chip(carol, 3, "😂").click()  # the only 😂 goes
    tool(carol, 3, "reply").click()
    carol.send("a reply to third")
    tool(bob, 3, "delete").click()  # a deleted parent keeps its reply count
    message(bob, 3).locator(".confirm button.danger").click()
    bob.send("while alice was away")
    expect(message(carol, 4).locator(".reaction")).to_have_count(1)
    expect(message(carol, 1).locator(".reaction")).to_have_text("👍 2")
    bob.wait_for_count(6)
    carol_view = rendered(carol)

    alice.context.set_offline(False)
    alice.expect_live()
    expect(message(alice, 3).locator(".body")).to_have_text("Message deleted")
    fresh = people()
    fresh.join(room, "dave")
    fresh.wait_for_count(6)
    expect(message(alice, 1).locator(".reaction")).to_have_text("👍 2")
    expect(alice.page.locator("#log li.msg")).to_have_count(6)
    assert rendered(alice) == rendered(fresh) == carol_view
    assert rendered(fresh) == [
        [1, "bob", "first, edited", True, False, [["👍", "2", "alice, bob reacted with 👍"]], ""],
        [2, "carol", "Message deleted", False, True, [], ""],
        [3, "bob", "Message deleted", False, True, [], "1 reply"],
        [4, "alice", "alice's own", False, False, [["🎉", "1", "bob reacted with 🎉"]], ""],
        [14, "carol", "a reply to third", False, False, [], ""],
        [16, "bob", "while alice was away", False, False, [], ""],
    ]


def test_screenshot_of_edits_reactions_and_a_thread(people, web):
    """tests/artifacts/events.png, for a person to look at (docs/screenshot.png is taken from it): an
    edit, a tombstone, reactions, a reply and the thread panel."""
    room = "homework"
    post(web, room, ["Welcome! The slides are at https://example.com/slides (page 12 onwards)."], sender="teacher")
    alice, minjun = people(width=1280, height=720), people(locale="ko-KR")
    alice.join(room, "alice")
    minjun.join(room, "민준")
    minjun.send("안녕하세요! 오늘 숙제는 3번까지인가요?")  # 2
    alice.send("Yes, up to 3. I think it's du tomorrow")  # 3
    alice.send("sorry, wrong room")  # 4
    alice.wait_for_count(4)
    tool(alice, 3, "edit").click()
    message(alice, 3).locator("textarea.edit-box").fill("Yes, up to 3. It's due tomorrow.")
    message(alice, 3).locator("textarea.edit-box").press("Enter")
    tool(alice, 4, "delete").click()
    message(alice, 4).locator(".confirm button.danger").click()
    react(minjun, 3, "👍")
    react(alice, 1, "🎉")
    react(minjun, 1, "🎉")
    react(minjun, 1, "❤️")
    tool(minjun, 2, "reply").click()
    minjun.send("3번은 그래프도 그려야 하나요?")
    tool(alice, 2, "reply").click()
    alice.send("Only for 3b, I think.")
    expect(message(alice, 2).locator(".replies")).to_have_text("2 replies")
    message(alice, 2).locator(".replies").click()
    expect(alice.page.locator("#thread-log li.msg")).to_have_count(2)
    alice.page.mouse.move(0, 0)
    alice.page.focus("#message")
    ARTIFACTS.mkdir(exist_ok=True)
    alice.page.screenshot(path=ARTIFACTS / "events.png")
