"""Accounts in Chromium: sign up, log out, log in; a user's messages carry their username; guests cannot take it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import room_path, unique, ws_url

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple 42"


def test_sign_up_log_in_and_speak_as_the_username(people, web):
    room = unique("class")
    username = unique("ada").replace("-", "_")
    ada, guest = people(), people()

    # Sign up from the room page: the password validators speak first, then the account is made.
    ada.goto(room_path(room))
    ada.page.click("#guest-form a[href*='signup']")
    ada.page.fill("#id_username", username)
    ada.page.fill("#id_password1", "12345")
    ada.page.fill("#id_password2", "12345")
    ada.page.click("#signup-form button[type=submit]")
    expect(ada.page.locator("#password2-errors")).to_contain_text("too short")
    ada.page.fill("#id_password1", PASSWORD)
    ada.page.fill("#id_password2", PASSWORD)
    ada.page.click("#signup-form button[type=submit]")
    ada.expect_live()  # back in the room, logged in: no name to choose
    expect(ada.page.locator(".whoami")).to_contain_text(username)
    expect(ada.page.locator("#change-name")).to_have_count(0)

    guest.join(room, "grace")
    ada.send("hello from an account")
    guest.wait_for_count(1)
    assert guest.messages() == [(1, username, "hello from an account")]

    # A logged-in user's claim to another name is ignored: the server names the sender.
    ada.page.evaluate(
        """url => new Promise((resolve, reject) => {
             const ws = new WebSocket(url);
             ws.onmessage = e => { if (JSON.parse(e.data).type === "presence") {
               ws.send(JSON.stringify({message: "who am I?", sender: "grace"})); ws.close(); resolve(); } };
             ws.onerror = reject;
           })""",
        ws_url(web, room),
    )
    guest.wait_for_count(2)
    assert guest.messages()[-1] == (2, username, "who am I?")

    # A guest cannot take the username, in any case.
    guest.page.click("#change-name")
    guest.page.fill("#guest-name", username.upper())
    guest.page.click("#guest-form button[type=submit]")
    expect(guest.page.locator("#name-error")).to_contain_text("registered user")
    guest.join(room)  # still grace
    expect(guest.page.locator("#you-name")).to_have_text("grace")

    # Log out, log back in from the login page, and speak as the user again.
    ada.page.click("#logout")
    expect(ada.page.locator("#login-link")).to_be_visible()
    ada.goto(room_path(room))
    expect(ada.page.locator("#guest-form")).to_be_visible()
    ada.page.click("#guest-form a[href*='login']")
    ada.page.fill("#id_username", username)
    ada.page.fill("#id_password", "wrong password")
    ada.page.click("#login-form button[type=submit]")
    expect(ada.page.locator("#form-errors")).to_be_visible()
    ada.page.fill("#id_password", PASSWORD)
    ada.page.click("#login-form button[type=submit]")
    ada.expect_live()
    ada.send("back again")
    guest.wait_for_count(3)
    assert guest.messages()[-1] == (3, username, "back again")
    expect(ada.page.locator("#log li.msg.mine")).to_have_count(3)


def test_a_guest_whose_name_is_registered_meanwhile_is_stopped_on_reconnect(people):
    """The server refuses the name (close 4403): the page says why and stops retrying."""
    room = unique("lobby")
    name = unique("zoe").replace("-", "_")
    guest, newcomer = people(), people()
    guest.join(room, name)
    newcomer.goto("/accounts/signup/")
    newcomer.page.fill("#id_username", name)
    newcomer.page.fill("#id_password1", PASSWORD)
    newcomer.page.fill("#id_password2", PASSWORD)
    newcomer.page.click("#signup-form button[type=submit]")
    expect(newcomer.page.locator(".whoami")).to_contain_text(name)

    guest.context.set_offline(True)
    expect(guest.page.locator("#status")).to_have_attribute("data-state", "reconnecting")
    guest.context.set_offline(False)
    expect(guest.page.locator("#status")).to_have_attribute("data-state", "closed")
    expect(guest.page.locator("#banner")).to_contain_text("registered user")
    guest.page.reload()  # the room page now asks for another name
    expect(guest.page.locator("#name-error")).to_contain_text("registered user")


def test_a_guest_under_a_name_registered_meanwhile_cannot_send_and_look_alikes_are_refused(people):
    """The next message of a guest whose name was registered since is refused (shown as not sent);
    sign-up and the guest-name form refuse look-alikes (Cyrillic letters, fullwidth letters)."""
    room = unique("lobby")
    name = "zoe" + unique("x").split("-")[1]
    guest, newcomer, other = people(), people(), people()
    guest.join(room, name)
    other.join(room, "grace")
    newcomer.goto("/accounts/signup/")
    newcomer.page.fill("#id_username", name)
    newcomer.page.fill("#id_password1", PASSWORD)
    newcomer.page.fill("#id_password2", PASSWORD)
    newcomer.page.click("#signup-form button[type=submit]")
    expect(newcomer.page.locator(".whoami")).to_contain_text(name)

    guest.send("still me?")
    expect(guest.page.locator(".failed")).to_contain_text("registered user")
    other.send("grace goes on")
    other.wait_for_count(1)
    assert other.messages() == [(1, "grace", "grace goes on")]

    look_alike = "z\u043e" + name[2:]  # a Cyrillic o
    copycat = people()
    copycat.goto("/accounts/signup/")
    copycat.page.fill("#id_username", look_alike)
    copycat.page.fill("#id_password1", PASSWORD)
    copycat.page.fill("#id_password2", PASSWORD)
    copycat.page.click("#signup-form button[type=submit]")
    expect(copycat.page.locator("#username-errors")).to_contain_text("looks too much like")

    copycat.goto(room_path(room))
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in name)
    copycat.page.fill("#guest-name", fullwidth)
    copycat.page.click("#guest-form button[type=submit]")
    expect(copycat.page.locator("#name-error")).to_contain_text("registered user")


def test_failed_logins_are_throttled_with_a_message_on_the_login_page(people):
    username = unique("locked").replace("-", "_")
    person = people()
    person.goto("/accounts/signup/")
    person.page.fill("#id_username", username)
    person.page.fill("#id_password1", PASSWORD)
    person.page.fill("#id_password2", PASSWORD)
    person.page.click("#signup-form button[type=submit]")
    person.page.click("#logout")
    expect(person.page.locator("#login-link")).to_be_visible()
    for _ in range(5):  # PARLEY_LOGIN_FAILURES_PER_USERNAME
        person.goto("/accounts/login/")
        person.page.fill("#id_username", username)
        person.page.fill("#id_password", "wrong password")
        person.page.click("#login-form button[type=submit]")
    expect(person.page.locator("#login-throttled")).to_contain_text("Too many failed logins")
    person.page.fill("#id_password", PASSWORD)
    person.page.click("#login-form button[type=submit]")
    expect(person.page.locator("#login-throttled")).to_be_visible()  # the right password waits too
