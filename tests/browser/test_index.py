"""The room list in Chromium: join or create a room by name, a clear message for a bad one, who is online;
unread counts and online figures that follow without a reload; the Mentions page."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from playwright.sync_api import expect
from websockets.sync.client import connect

from tests.browser.conftest import post, unique, ws_url

pytestmark = pytest.mark.browser


def test_join_a_room_by_name_from_the_list(people):
    room = unique("수학-숙제")
    alice, bob = people(), people()
    alice.goto("/")
    alice.page.fill("#room-name", "no spaces please")
    alice.page.click("form.join button[type=submit]")
    expect(alice.page.locator("#room-error")).to_contain_text("cannot be a room name")

    alice.page.fill("#room-name", room)
    alice.page.click("form.join button[type=submit]")
    assert unquote(alice.page.url).endswith(f"/rooms/{room}/")
    alice.page.fill("#guest-name", "alice")
    alice.page.click("#guest-form button[type=submit]")
    alice.expect_live()
    alice.send("first!")
    alice.wait_for_count(1)

    # The room is listed, newest activity first, with alice online in it (the page is a snapshot:
    # reload until the server's presence has caught up, which it normally has already).
    row = bob.page.locator("#rooms tbody tr").first
    for _ in range(20):
        bob.goto("/")
        if row.locator("td.online").inner_text() == "1":
            break
        bob.page.wait_for_timeout(250)
    expect(row).to_have_attribute("data-room", room)
    expect(row.locator("td.online")).to_have_text("1")
    row.locator("a").click()
    expect(bob.page.locator("#guest-form")).to_be_visible()


PASSWORD = "correct horse battery staple 42"


def sign_up(person, username: str) -> None:
    """Make an account through the sign-up form; the person comes back to the room list logged in."""
    person.goto("/accounts/signup/?next=/")
    person.page.fill("#id_username", username)
    person.page.fill("#id_password1", PASSWORD)
    person.page.fill("#id_password2", PASSWORD)
    person.page.click("#signup-form button[type=submit]")
    expect(person.page.locator(".whoami")).to_contain_text(username)


def test_unread_and_online_go_up_on_the_room_list_without_a_reload(people, web):
    room = unique("unread")
    username = unique("ada").replace("-", "_")
    post(web, room, ["before ada looked"])
    ada, bob = people(), people()
    sign_up(ada, username)
    row = ada.page.locator(f'#rooms tbody tr[data-room="{room}"]')
    expect(row.locator("td.unread")).to_have_text("1")
    expect(row.locator("td.online")).to_have_text("0")
    ada.page.evaluate("window.sameDocument = true")

    bob.goto("/")  # a guest
    bob_row = bob.page.locator(f'#rooms tbody tr[data-room="{room}"]')
    expect(bob_row.locator("td.online")).to_have_text("0")

    post(web, room, ["one", "two"], sender="carol")
    with connect(ws_url(web, room) + "?name=dave", open_timeout=10):  # someone in the room meanwhile
        # rooms.js polls /rooms.json every PARLEY_ROOM_LIST_REFRESH (5) s: within a few periods.
        expect(row.locator("td.unread")).to_have_text("3", timeout=20_000)
        expect(row.locator("td.unread")).to_have_class("unread some")
        expect(row.locator("td.online")).to_have_text("1", timeout=20_000)
        expect(bob_row.locator("td.online")).to_have_text("1", timeout=20_000)
    assert ada.page.evaluate("window.sameDocument") is True  # not reloaded
    expect(bob_row.locator("td.unread")).to_have_count(0)  # a guest's list has no unread column


def test_a_mention_is_listed_on_the_mentions_page_and_leads_to_the_message(people, web):
    room = unique("멘션")
    username = unique("ada").replace("-", "_")
    ada = people()
    sign_up(ada, username)
    post(web, room, ["no mention", f"@{username}, look at this <b>!</b>"], sender="carol")
    ada.page.click("#mentions-link")
    item = ada.page.locator("#mentions li.mention")
    expect(item).to_have_count(1)
    expect(item.locator(".sender")).to_have_text("carol")
    expect(item.locator(".body")).to_have_text(f"@{username}, look at this <b>!</b>")
    item.locator("a.go").click()
    ada.page.wait_for_url("**/rooms/**#m2")
    assert unquote(ada.page.url).endswith(f"/rooms/{room}/#m2")
