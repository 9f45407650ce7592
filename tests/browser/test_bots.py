"""Bots in Chromium: an owner makes a bot on the namespace's bots page (its token shown once); the
bot joins a room with its token and speaks; the owner's room page shows the "bot" badge by its
message and by its name in the presence list, as text (never markup), and not by a person's."""

from __future__ import annotations

import json
from urllib.parse import quote

from playwright.sync_api import expect
from websockets.sync.client import connect

from tests.browser.conftest import Chat, unique
from tests.browser.test_namespaces import create_namespace, sign_up


def test_the_bot_badge_on_messages_and_presence(people, web):
    owner: Chat = people()
    me = sign_up(owner, "owner")
    ns = create_namespace(owner)
    room = unique("room")
    owner.goto(f"/ns/{ns}/bots/")
    owner.page.fill("#bot-name", "<b>ci</b>")
    owner.page.click("#bot-create button[type=submit]")
    token = owner.page.locator("#bot-token").inner_text()
    assert token.startswith("parley_")
    username = owner.page.locator("#bots tbody tr").first.get_attribute("data-username")
    assert username and "<" not in username  # made a username: letters, digits, -._@+
    owner.goto(f"/ns/{ns}/{quote(room)}/")
    owner.expect_live()
    owner.send("hello from a person")
    url = f"{web.ws}/ws/ns/{ns}/{quote(room)}/"
    with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, proxy=None) as bot:
        bot.send(json.dumps({"type": "message", "message": "beep **boop**"}))
        bot_message = owner.page.locator(f".msg[data-sender='{username}']")
        expect(bot_message.locator(".bot-badge")).to_have_count(1)
        expect(bot_message.locator(".body strong, strong")).to_have_text("boop")
        expect(owner.page.locator(f".msg[data-sender='{me}'] .bot-badge")).to_have_count(0)
        expect(owner.page.locator(f"#presence li.bot[data-name='{username}'] .bot-badge")).to_have_count(1)
        expect(owner.page.locator(f"#presence li[data-name='{me}'] .bot-badge")).to_have_count(0)
    assert owner.dialogs == [] and owner.errors == []
