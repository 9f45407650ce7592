"""The search page in Chromium: the header's box, results grouped by room with the matches marked
(code point offsets drawn right past emoji), a result opening its room at that message (loaded
around it: it is older than the join's history), message text never parsed as HTML, no box for
guests."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.api.client import PASSWORD
from tests.browser.conftest import post, unique

pytestmark = pytest.mark.browser


def word() -> str:
    return "zq" + "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:10])


def sign_up(person) -> str:
    name = unique("kim").replace("-", "_")
    person.goto("/accounts/signup/")
    person.page.fill("#id_username", name)
    person.page.fill("#id_password1", PASSWORD)
    person.page.fill("#id_password2", PASSWORD)
    person.page.click("#signup-form button[type=submit]")
    expect(person.page.locator(".whoami")).to_contain_text(name)
    return name


def test_search_from_the_header_and_jump_to_the_message(web, people):
    room, other = unique("숙제방"), unique("other")
    w = word()
    target = f"😀👍🏽 오늘숙제는 {w} <img src=x onerror=alert(1)>"
    # The message is the 3rd of 123: far older than the 20 the room page loads on joining.
    texts = [f"filler {i}" for i in range(2)] + [target] + [f"later {i}" for i in range(120)]
    for start in range(0, len(texts), 25):  # a connection's burst is 30 frames
        post(web, room, texts[start : start + 25])
    post(web, other, [f"{w} elsewhere"])
    reader = people()
    sign_up(reader)
    reader.goto("/")
    box = reader.page.locator("#header-search")
    box.fill(f"숙제 {w}")
    box.press("Enter")
    expect(reader.page).to_have_url(re.compile(r"/search/\?q="))
    results = reader.page.locator(".search-result")
    expect(results).to_have_count(1)
    expect(reader.page.locator(".search-group h2")).to_have_text(f"#{room}")
    assert results.first.locator("mark").all_text_contents() == ["숙제", w]
    assert results.first.locator(".body").text_content() == target  # as text: the tag is not HTML
    assert results.first.locator(".body img").count() == 0

    # Two rooms: two groups.
    reader.page.fill("#search-q", w)
    reader.page.press("#search-q", "Enter")
    expect(reader.page.locator(".search-group")).to_have_count(2)

    reader.page.fill("#search-q", f"숙제 {w}")
    reader.page.press("#search-q", "Enter")
    expect(results).to_have_count(1)
    results.first.locator("a.go").click()
    expect(reader.page).to_have_url(re.compile(r"#m3$"))
    reader.expect_live()
    linked = reader.page.locator("#log li.msg.linked")
    expect(linked).to_have_count(1)
    expect(linked).to_contain_text(w)
    expect(linked).to_be_in_viewport()
    # The messages around it were loaded with it; those between them and the newest are behind a
    # marker, whose button brings them in until the log is whole.
    gap = reader.page.locator("#history-gap button")
    expect(gap).to_have_count(1)
    shown = [text for _, _, text in reader.messages()]
    assert "filler 0" in shown and "later 10" in shown and "later 60" not in shown and "later 119" in shown
    for _ in range(5):
        if gap.count() == 0:
            break
        gap.click()
        reader.page.wait_for_timeout(300)
    expect(gap).to_have_count(0)
    shown = [text for _, _, text in reader.messages()]
    assert shown == texts, shown  # every message, once, in order
    assert reader.dialogs == [] and reader.errors == []


def test_nothing_found_and_a_bad_query(web, people):
    reader = people()
    sign_up(reader)
    reader.goto(f"/search/?q={word()}")
    expect(reader.page.locator("#search-status")).to_have_text("Nothing found.")
    reader.goto("/search/?q=from%3Asomeone")
    expect(reader.page.locator("#search-status")).to_contain_text("Type a word or a phrase")


def test_guests_have_no_search(web, people):
    guest = people()
    guest.goto("/")
    expect(guest.page.locator("#header-search")).to_have_count(0)
    guest.goto("/search/?q=hello")
    expect(guest.page).to_have_url(re.compile(r"/accounts/login/"))
