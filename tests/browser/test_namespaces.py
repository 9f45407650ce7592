"""Namespaces in Chromium: create one and set its policy, invite by link and join by it; private rooms
and their members (an outsider sees them nowhere); a moderator's delete, mute, kick and ban as the
affected person's page shows them (it stops reconnecting); the audit log; direct messages with
unread counts; the pages in Korean."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import Chat, unique

PASSWORD = "correct horse battery staple 42"


def sign_up(chat: Chat, prefix: str) -> str:
    """Make an account (logged in afterwards); returns the username."""
    username = unique(prefix).replace("-", "_")
    chat.goto("/accounts/signup/")
    chat.page.fill("#id_username", username)
    chat.page.fill("#id_password1", PASSWORD)
    chat.page.fill("#id_password2", PASSWORD)
    chat.page.click("#signup-form button[type=submit]")
    expect(chat.page.locator(".whoami")).to_contain_text(username)
    return username


def create_namespace(chat: Chat, visibility: str = "open") -> str:
    name = unique("ns")
    chat.goto("/")
    chat.page.fill("#ns-name", name)
    chat.page.select_option("#ns-visibility", visibility)
    chat.page.click("#ns-create button[type=submit]")
    expect(chat.page.locator("#ns-title")).to_have_text(name)
    return name


def status_of(chat: Chat, path: str) -> int:
    response = chat.page.goto(chat.base + path)
    assert response is not None
    return response.status


def members_action(
    chat: Chat, ns: str, form: str, fields: dict[str, str], button: str, *, choose: dict[str, str] | None = None
) -> None:
    """Fill a form of the members page (``choose``: its selects), press ``button``; if the page
    asks first ("Ban kim?"), say yes; wait for the success banner."""
    chat.goto(f"/ns/{ns}/members/")
    for name, value in fields.items():
        chat.page.locator(f"#{form} [name={name}]").fill(value)
    for name, value in (choose or {}).items():
        chat.page.locator(f"#{form} select[name={name}]").select_option(value)
    asks = chat.page.locator(button).get_attribute("data-confirm-button") is not None
    chat.page.click(button)
    if asks:
        ask = chat.page.locator(".ask button.danger")
        expect(ask).to_be_visible()
        ask.click()
    expect(chat.page.locator(".flash li.success")).to_be_visible()


def audit_actions(chat: Chat, ns: str) -> list[str]:
    chat.goto(f"/ns/{ns}/audit/")
    return chat.page.eval_on_selector_all("#audit tbody tr[data-action]", "els => els.map(e => e.dataset.action)")


def test_create_a_namespace_set_its_policy_invite_and_join_by_link(people):
    owner, friend, stranger = people(), people(), people()
    sign_up(owner, "owner")
    friend_name = sign_up(friend, "friend")
    sign_up(stranger, "stranger")
    ns = create_namespace(owner, "members")

    owner.page.click("#settings-link")
    owner.page.select_option("#room_creation", "moderators")
    owner.page.fill("#max_message_chars", "300")
    owner.page.click("#settings-save")
    expect(owner.page.locator(".flash li.success")).to_be_visible()
    expect(owner.page.locator("#max_message_chars")).to_have_value("300")
    expect(owner.page.locator("#room_creation")).to_have_value("moderators")

    # members-only: a stranger and an anonymous visitor get a 404
    assert status_of(stranger, f"/ns/{ns}/") == 404
    assert ns not in stranger.page.content()

    owner.goto(f"/ns/{ns}/members/")
    owner.page.click("#invite-create button[type=submit]")
    link = owner.page.locator("#invites .invite-url").first.input_value()
    assert f"/ns/{ns}/join/" in link

    friend.page.goto(link)
    expect(friend.page.locator("#join-button")).to_be_visible()
    friend.page.click("#join-button")
    expect(friend.page.locator("#ns-title")).to_have_text(ns)
    expect(friend.page.locator("#room-create")).to_have_count(0)  # room creation: moderators only

    owner.goto(f"/ns/{ns}/members/")
    expect(owner.page.locator(f'#members tr[data-user="{friend_name}"]')).to_have_attribute("data-role", "member")
    actions = audit_actions(owner, ns)
    assert {"policy", "invite_create", "member_add"} <= set(actions)


def test_private_room_with_an_added_member_is_invisible_to_an_outsider(people):
    owner, member, outsider = people(), people(), people()
    sign_up(owner, "owner")
    member_name = sign_up(member, "member")
    sign_up(outsider, "outsider")
    ns = create_namespace(owner, "open")

    owner.page.fill("#room-name", "secret")
    owner.page.check("#room-private")
    owner.page.click("#room-create button[type=submit]")
    owner.expect_live()
    owner.page.locator("#room-members summary").click()
    owner.page.fill("#room-member-name", member_name)
    owner.page.click("#room-member-add button[type=submit]")
    expect(owner.page.locator("#room-member-list")).to_contain_text(member_name)

    member.goto(f"/ns/{ns}/")
    member.page.click('#ns-rooms tr[data-room="secret"] a')
    member.expect_live()
    member.send("only for us")
    owner.wait_for_count(1)

    outsider.goto(f"/ns/{ns}/")
    expect(outsider.page.locator("#ns-title")).to_have_text(ns)  # the namespace is open
    expect(outsider.page.locator('#ns-rooms tr[data-room="secret"]')).to_have_count(0)
    assert status_of(outsider, f"/ns/{ns}/secret/") == 404
    outsider.goto("/")
    assert "secret" not in outsider.page.locator("main").inner_text()


def test_a_moderator_deletes_mutes_kicks_and_bans(people):
    mod, victim = people(), people()
    sign_up(mod, "mod")
    victim_name = sign_up(victim, "victim")
    ns = create_namespace(mod, "open")
    room_path = f"/ns/{ns}/hall/"
    mod.goto(room_path)
    mod.expect_live()
    victim.goto(room_path)
    victim.expect_live()

    victim.send("something rude")
    mod.wait_for_count(1)
    msg = mod.page.locator("#log li.msg").first
    msg.hover()
    msg.locator(".tools .delete").click()
    msg.locator(".confirm button.danger").click()
    expect(victim.page.locator("#log li.msg").first).to_have_class(re.compile(r"\bdeleted\b"))

    members_action(
        mod,
        ns,
        "sanction-form",
        {"username": victim_name, "reason": "calm"},
        "#mute-button",
        choose={"duration": "3600"},
    )
    victim.send("still talking")
    expect(victim.page.locator("#banner")).to_contain_text("You are muted until")
    expect(victim.page.locator("#message")).to_be_disabled()  # until the mute ends
    victim.page.reload()  # a page opened while muted says so from the start (hello.muted)
    victim.expect_live()
    expect(victim.page.locator("#banner")).to_contain_text("You are muted until")
    expect(victim.page.locator("#message")).to_be_disabled()
    members_action(mod, ns, "sanctions", {}, f'#sanctions tr[data-user="{victim_name}"] button.lift')
    victim.page.reload()
    victim.expect_live()
    expect(victim.page.locator("#message")).to_be_enabled()
    expect(victim.page.locator("#banner")).to_be_hidden()

    members_action(mod, ns, "kick-form", {"username": victim_name, "reason": "out"}, "#kick-button")
    expect(victim.page.locator("#banner")).to_contain_text("A moderator removed you from this room")
    expect(victim.page.locator("#banner")).to_contain_text("Reason given: out")  # the moderator's words
    expect(victim.page.locator("#status")).to_have_attribute("data-state", "closed")
    expect(victim.page.locator("#message")).to_be_disabled()
    expect(victim.page.locator("#presence li")).to_have_count(0)  # out of the room: nobody shown
    victim.page.wait_for_timeout(2500)  # no reconnect: still closed after the first backoff steps
    expect(victim.page.locator("#status")).to_have_attribute("data-state", "closed")

    victim.page.reload()  # a kick is not a ban: they may come back
    victim.expect_live()
    members_action(
        mod,
        ns,
        "sanction-form",
        {"username": victim_name, "reason": "enough"},
        "#ban-button",
        choose={"duration": "86400"},
    )
    banner = victim.page.locator("#banner")
    expect(banner).to_contain_text("You are banned from this namespace")
    expect(banner).to_contain_text("The ban ends")
    expect(banner).to_contain_text("Reason given: enough")
    expect(victim.page.locator("#status")).to_have_attribute("data-state", "closed")
    victim.page.wait_for_timeout(2500)
    expect(victim.page.locator("#status")).to_have_attribute("data-state", "closed")
    victim.page.reload()
    expect(victim.page.locator("#banner")).to_contain_text("You may not join this room")
    expect(victim.page.locator("#status")).to_have_attribute("data-state", "closed")
    victim.goto(f"/ns/{ns}/")  # the namespace page shows the ban: until when, and why
    expect(victim.page.locator("#ns-banned")).to_contain_text("You are banned from this namespace")
    expect(victim.page.locator("#ns-banned")).to_contain_text("enough")

    actions = audit_actions(mod, ns)
    for action in ("delete", "mute", "kick", "ban"):
        assert action in actions, actions
    expect(mod.page.locator('#audit tr[data-action="ban"] .target')).to_have_text(victim_name)


def test_direct_messages_with_unread_counts(people):
    ada, bob = people(), people()
    ada_name = sign_up(ada, "ada")
    bob_name = sign_up(bob, "bob")
    bob.goto("/")  # open before the conversation exists: it appears without a reload
    ada.goto(f"/dm/{bob_name}/")
    ada.expect_live()
    ada.goto("/")  # opened, nothing sent: in nobody's list
    expect(ada.page.locator(f'#dms tr[data-user="{bob_name}"]')).to_have_count(0)
    expect(bob.page.locator(f'#dms tr[data-user="{ada_name}"]')).to_have_count(0)
    ada.goto(f"/dm/{bob_name}/")
    ada.expect_live()
    ada.send("hello bob")
    ada.send("are you there?")
    ada.wait_for_count(2)

    row = bob.page.locator(f'#dms tr[data-user="{ada_name}"]')
    expect(row.locator(".unread")).to_have_text("2")  # the room list's refresh added the row
    expect(bob.page.locator("#rooms")).not_to_contain_text(ada_name)
    row.locator("a").click()
    bob.expect_live()
    bob.wait_for_count(2)
    bob.goto("/")
    expect(bob.page.locator(f'#dms tr[data-user="{ada_name}"] .unread')).to_have_text("0")


def test_namespace_pages_in_korean(people):
    owner = people(locale="ko-KR")
    sign_up(owner, "owner")
    owner.goto("/")
    expect(owner.page.locator("#namespaces-title")).to_have_text("네임스페이스")
    expect(owner.page.locator("#dms-title")).to_have_text("다이렉트 메시지")
    ns = create_namespace(owner, "open")
    expect(owner.page.locator("#audit-link")).to_have_text("감사 로그")
    owner.goto(f"/ns/{ns}/members/")
    expect(owner.page.locator("h1")).to_have_text("멤버와 관리")
