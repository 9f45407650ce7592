"""The room list in Chromium: join or create a room by name, a clear message for a bad one, who is online."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import unique

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
