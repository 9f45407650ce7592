"""The room page in Chromium: live messages, history, reconnect with the offline queue, XSS, presence, typing."""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import WebSocketRoute, expect

from tests.browser.conftest import ARTIFACTS, post, room_path, unique

pytestmark = pytest.mark.browser


def test_a_message_reaches_the_room_and_only_that_room(people):
    """The Channels tutorial's test, in a Korean-named room: typed in one window, shown in the other."""
    room, elsewhere = unique("자유게시판"), unique("other")
    alice, bob, carol = people(), people(), people()
    alice.join(room, "alice")
    bob.join(room, "bob")
    carol.join(elsewhere, "carol")

    alice.type_and_send("hello, 안녕하세요\nsecond line")

    bob.wait_for_count(1)
    assert bob.messages() == [(1, "alice", "hello, 안녕하세요\nsecond line")]
    alice.wait_for_count(1)
    expect(alice.page.locator("#log li.msg").first).to_have_class("msg mine")
    expect(bob.page.locator("#log li.msg").first).to_have_class("msg")
    expect(alice.page.locator("#message")).to_have_value("")
    # Carol's room is another room: her own message arrives, alice's never does.
    carol.send("only here")
    carol.wait_for_count(1)
    time.sleep(0.3)
    assert carol.messages() == [(1, "carol", "only here")]


def test_enter_that_ends_a_korean_composition_does_not_send(people):
    """With a Korean IME, the Enter that confirms the last syllable arrives with isComposing set."""
    room = unique("ime")
    alice = people()
    alice.join(room, "alice")
    box = alice.page.locator("#message")
    box.fill("안녕하세요")
    box.evaluate(
        "el => el.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', isComposing: true, bubbles: true,"
        " cancelable: true}))"
    )
    alice.page.wait_for_timeout(300)
    expect(alice.page.locator("#outbox li, #log li")).to_have_count(0)
    expect(box).to_have_value("안녕하세요")
    box.press("Enter")
    alice.wait_for_count(1)
    assert alice.texts() == ["안녕하세요"]


def test_reload_shows_history_in_order_and_older_pages_on_scroll(people, web):
    room = unique("history")
    post(web, room, [f"old {i}" for i in range(1, 26)])  # 25 messages; the page gets the newest 20
    alice = people()
    alice.join(room, "alice")
    alice.send("mine, the newest")
    alice.wait_for_count(21)

    alice.page.reload()
    alice.expect_live()
    alice.wait_for_count(20)
    assert [i for i, _, _ in alice.messages()] == list(range(7, 27))
    assert alice.texts()[-1] == "mine, the newest"
    expect(alice.page.locator("#log li.msg.mine")).to_have_count(1)  # still mine after a reload

    alice.page.locator("#scroller").evaluate("el => { el.scrollTop = 0; }")
    alice.wait_for_count(26)
    assert alice.messages() == [(i, "bot", f"old {i}") for i in range(1, 26)] + [(26, "alice", "mine, the newest")]
    expect(alice.page.locator("#older")).to_have_attribute("data-state", "start")


def test_offline_then_back_shows_everything_once_and_sends_the_queue(people):
    room = unique("drop")
    alice, bob = people(), people()
    alice.join(room, "alice")
    bob.join(room, "bob")
    bob.send("before the drop")
    alice.wait_for_count(1)

    alice.context.set_offline(True)
    expect(alice.page.locator("#status")).to_have_attribute("data-state", "reconnecting")
    for i in range(1, 4):
        bob.send(f"while away {i}")
    alice.type_and_send("typed offline")
    expect(alice.page.locator("#outbox li.pending")).to_have_count(1)
    bob.wait_for_count(4)
    time.sleep(0.5)  # alice's reconnect attempts fail meanwhile, backing off

    alice.context.set_offline(False)
    alice.expect_live()
    expected = [
        (1, "bob", "before the drop"),
        (2, "bob", "while away 1"),
        (3, "bob", "while away 2"),
        (4, "bob", "while away 3"),
        (5, "alice", "typed offline"),
    ]
    alice.wait_for_count(5)
    bob.wait_for_count(5)
    expect(alice.page.locator("#outbox li")).to_have_count(0)
    time.sleep(0.5)  # nothing doubled later either
    assert alice.messages() == expected
    assert bob.messages() == expected


def test_a_dropped_socket_reconnects_with_after_the_last_id(people):
    """No offline event this time: the socket just closes (a server restart, a proxy timeout), and the
    reconnects fail for a while. The page backs off, then resumes with ?after= and misses nothing."""
    room = unique("resume")
    alice, bob = people(), people()
    urls: list[str] = []
    sockets: list[WebSocketRoute] = []
    refused: list[str] = []
    refuse = False

    def through_the_network(ws: WebSocketRoute) -> None:
        """Called for each socket alice's page opens: pass it through, or fail it while refusing."""
        if refuse:
            refused.append(ws.url)
            ws.close(code=1011)
            return
        urls.append(ws.url)
        ws.connect_to_server()
        sockets.append(ws)

    alice.page.route_web_socket(re.compile(r"/ws/rooms/"), through_the_network)
    alice.join(room, "alice")
    bob.join(room, "bob")
    bob.send("one")
    alice.wait_for_count(1)

    refuse = True
    sockets[-1].close(code=1012)  # "service restart"
    expect(alice.page.locator("#status")).to_have_attribute("data-state", "reconnecting")
    bob.send("two")
    bob.send("three")
    bob.wait_for_count(3)
    alice.page.wait_for_timeout(1000)  # a few refused attempts, backing off (the route runs while we wait)
    refuse = False

    alice.wait_for_count(3)
    alice.expect_live()
    assert alice.messages() == [(1, "bob", "one"), (2, "bob", "two"), (3, "bob", "three")]
    assert len(urls) == 2
    assert not urls[0].endswith("?after=1")
    assert urls[1].endswith("?after=1")
    assert refused and all(url.endswith("?after=1") for url in refused)


def test_a_message_arriving_twice_is_shown_once(people):
    """The page keeps messages by id: a frame delivered twice (here by a meddling network) is shown once."""
    room = unique("twice")
    alice, bob = people(), people()

    def stutter(ws: WebSocketRoute) -> None:
        """Called for each socket alice's page opens: every message frame from the server comes twice."""
        server = ws.connect_to_server()

        def forward(message: str | bytes) -> None:
            ws.send(message)
            if isinstance(message, str) and '"type":"message"' in message:
                ws.send(message)

        server.on_message(forward)

    alice.page.route_web_socket(re.compile(r"/ws/rooms/"), stutter)
    alice.join(room, "alice")
    bob.join(room, "bob")
    for text in ("one", "two", "three"):
        bob.send(text)
    alice.wait_for_count(3)
    alice.page.wait_for_timeout(300)
    assert alice.messages() == [(1, "bob", "one"), (2, "bob", "two"), (3, "bob", "three")]


def test_a_silent_connection_is_found_by_the_heartbeat(people):
    """Frames stop both ways without a close or an offline event (a half-open connection). The page's
    clock is fast-forwarded: after 25 s of silence it pings, 10 s without an answer it reconnects, and
    the message it had sent into the void goes again."""
    room = unique("silent")
    alice, bob = people(), people()
    urls: list[str] = []
    silenced: set[int] = set()  # indexes into urls: sockets whose frames are dropped both ways

    def through_the_network(ws: WebSocketRoute) -> None:
        """Called for each socket alice's page opens: pass frames through unless that socket is silenced."""
        index = len(urls)
        urls.append(ws.url)
        server = ws.connect_to_server()
        ws.on_message(lambda message: None if index in silenced else server.send(message))
        server.on_message(lambda message: None if index in silenced else ws.send(message))

    alice.page.clock.install()
    alice.page.route_web_socket(re.compile(r"/ws/rooms/"), through_the_network)
    alice.join(room, "alice")
    bob.join(room, "bob")
    bob.send("before")
    alice.wait_for_count(1)

    silenced.add(0)
    bob.send("during")
    bob.wait_for_count(2)
    alice.send("lost in transit")  # sent on the silent socket: the server never gets it
    expect(alice.page.locator("#outbox li")).to_contain_text("Sending…")
    alice.page.clock.fast_forward(30_000)  # 25 s of silence: the page pings, and hears nothing
    alice.page.wait_for_timeout(100)
    expect(alice.page.locator("#status")).to_have_attribute("data-state", "live")
    assert len(urls) == 1
    alice.page.clock.fast_forward(11_000)  # 10 s without an answer: the page gives up on that socket
    alice.page.clock.fast_forward(1_000)  # the first backoff step
    alice.expect_live()
    alice.wait_for_count(3)  # what it missed, then its unconfirmed message sent again
    expected = [(1, "bob", "before"), (2, "bob", "during"), (3, "alice", "lost in transit")]
    assert alice.messages() == expected
    bob.wait_for_count(3)
    assert bob.messages() == expected
    assert len(urls) == 2 and urls[1].endswith("?after=1")


def test_a_long_offline_queue_goes_out_in_order_within_the_rate_limit(people):
    """40 messages typed offline: more than the server's burst of 30, so the page paces them."""
    room = unique("queue")
    alice, bob = people(), people()
    alice.join(room, "alice")
    bob.join(room, "bob")
    alice.context.set_offline(True)
    expect(alice.page.locator("#status")).to_have_attribute("data-state", "reconnecting")
    texts = [f"queued {i}" for i in range(1, 41)]
    for text in texts:
        alice.send(text)
    expect(alice.page.locator("#outbox li.pending")).to_have_count(40)
    alice.context.set_offline(False)
    bob.wait_for_count(40)
    alice.wait_for_count(40)
    expect(alice.page.locator("#outbox li")).to_have_count(0)
    expected = [(i, "alice", f"queued {i}") for i in range(1, 41)]
    assert bob.messages() == expected
    assert alice.messages() == expected


def test_a_resent_message_is_stored_once(people, web):
    """The outbox resends what the server never confirmed to it; when the server did store it (the
    echo was lost), the resend stores nothing and the page shows the stored message once."""
    room = unique("dedupe")
    client_id = str(uuid.uuid4())
    post(web, room, ["sent, echo lost"], sender="alice", client_ids=[client_id])
    post(web, room, [f"later {i}" for i in range(20)])  # push it out of the 20-message join history
    alice = people()
    alice.goto("/")  # an origin for sessionStorage: the outbox a reload would have kept
    alice.page.evaluate(
        "([key, id]) => sessionStorage.setItem(key, JSON.stringify([{clientId: id, text: 'sent, echo lost'}]))",
        [f"parley:outbox:{room}", client_id],
    )
    alice.join(room, "alice")
    expect(alice.page.locator('#log li.msg[data-id="1"]')).to_contain_text("sent, echo lost")
    expect(alice.page.locator("#outbox li")).to_have_count(0)
    assert [m for m in alice.messages() if m[2] == "sent, echo lost"] == [(1, "alice", "sent, echo lost")]
    alice.send("and a new one")
    expect(alice.page.locator('#log li.msg[data-id="22"]')).to_contain_text("and a new one")


XSS_PAYLOADS = [
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 2; alert(2)">',
    "<svg onload=alert(3)><b>bold?</b></svg>",
    "javascript:alert(4)",
    'see http://example.com/a"><img src=x onerror=alert(5)> and https://example.org/ok?x=1&y=2.',
]


def test_xss_payloads_show_as_text_and_run_nothing(people):
    room = unique("xss")
    alice, mallory = people(), people()
    alice.join(room, "alice")
    mallory.join(room, "<img src=x onerror=alert(6)>")
    for payload in XSS_PAYLOADS:
        mallory.send(payload)
    alice.wait_for_count(len(XSS_PAYLOADS))

    for chat in (alice, mallory):
        assert chat.texts() == XSS_PAYLOADS
        assert {sender for _, sender, _ in chat.messages()} == {"<img src=x onerror=alert(6)>"}
        expect(chat.page.locator("#presence li")).to_have_count(2)  # presence frames are coalesced: wait
        assert "<img src=x onerror=alert(6)>" in chat.presence()
        page = chat.page
        assert page.locator("#log img, #log script, #log svg, #log b, #presence img").count() == 0
        assert page.evaluate("window.__pwned") is None
        links = page.eval_on_selector_all("#log a", "els => els.map(a => [a.getAttribute('href'), a.rel, a.target])")
        assert links == [
            ["http://example.com/a", "noopener noreferrer nofollow ugc", "_blank"],
            ["https://example.org/ok?x=1&y=2", "noopener noreferrer nofollow ugc", "_blank"],
        ]
        assert chat.dialogs == []


def test_presence_and_typing_come_and_go(people):
    room = unique("presence")
    alice, bob = people(), people()
    alice.join(room, "alice")
    bob.join(room, "bob")
    expect(alice.page.locator("#presence li")).to_have_count(2)
    assert alice.presence() == ["alice", "bob"]
    expect(alice.page.locator("#online-count")).to_have_text("2")

    typing = alice.page.locator("#typing")
    bob.page.locator("#message").press_sequentially("hel")
    expect(typing).to_have_text("bob is typing…")
    expect(bob.page.locator("#typing")).to_have_text("")  # not echoed to the typist
    expect(typing).to_have_text("", timeout=4000)  # PARLEY_TYPING_TIMEOUT is 2 s for these tests

    bob.page.locator("#message").press_sequentially("lo")
    expect(typing).to_have_text("bob is typing…")
    bob.page.locator("#message").press("Enter")
    alice.wait_for_count(1)
    expect(typing).to_have_text("", timeout=1000)  # the message ends the hint at once

    bob.context.close()
    expect(alice.page.locator("#presence li")).to_have_count(1)
    assert alice.presence() == ["alice"]


def test_room_page_screenshots_and_phone_width(people, web):
    """The screenshots for a person to look at (tests/artifacts/), and a phone-width page without sideways
    scrolling, in Korean."""
    room = "study-group"
    post(web, room, ["Welcome! The slides are at https://example.com/slides (page 12 onwards)."], sender="teacher")
    post(web, room, ["안녕하세요! 오늘 숙제는 3번까지인가요?"], sender="민준")
    alice, minjun = people(), people(width=390, height=760, locale="ko-KR", timezone="Asia/Seoul")
    alice.join(room, "alice")
    minjun.goto(room_path(room))
    expect(minjun.page.locator("#guest-form button")).to_have_text("방에 들어가기")
    minjun.page.fill("#guest-name", "민준")
    minjun.page.click("#guest-form button")
    minjun.expect_live()
    expect(minjun.page.locator("#status")).to_have_text("연결됨")
    alice.type_and_send("Yes, up to 3.\nAnd a very long word: " + "supercalifragilistic" * 5)
    minjun.send("감사합니다!")
    alice.wait_for_count(4)
    minjun.wait_for_count(4)
    minjun.page.locator("#message").press_sequentially("네, 알겠어요", delay=150)
    expect(alice.page.locator("#typing")).to_have_text("민준 is typing…")

    # Timestamps are in each reader's time zone: UTC for alice, Seoul (UTC+9) for 민준.
    for chat, zone in ((alice, "UTC"), (minjun, "Asia/Seoul")):
        time_el = chat.page.locator('#log li.msg[data-id="1"] time')
        when = dt.datetime.fromisoformat(time_el.get_attribute("datetime")).astimezone(ZoneInfo(zone))
        assert f"{(when.hour - 1) % 12 + 1}:{when.minute:02d}" in time_el.inner_text()

    ARTIFACTS.mkdir(exist_ok=True)
    alice.page.screenshot(path=ARTIFACTS / "room.png")
    minjun.page.screenshot(path=ARTIFACTS / "room-phone.png")
    for chat, width in ((alice, 1000), (minjun, 390)):
        assert chat.page.evaluate("document.documentElement.scrollWidth") <= width
        overflowing = chat.page.eval_on_selector_all(
            "#log .body", "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).length"
        )
        assert overflowing == 0
