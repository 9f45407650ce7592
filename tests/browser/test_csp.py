"""The pages under their Content-Security-Policy in Chromium: nothing is blocked, everything still works.

Each page is watched for ``securitypolicyviolation`` events (a listener installed before any of the
page's own code runs) and for console errors that mention the policy; the last test shows that the
watch sees a violation when there is one, so that "none seen" means something.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Response, expect

from tests.browser.conftest import Chat, room_path, unique

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple 42"

WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${where})`);
}, true);
"""


def watched(chat: Chat) -> Chat:
    """Record the page's policy violations and the console's policy errors from the next navigation on."""
    chat.page.add_init_script(WATCH)
    chat.console = []
    chat.page.on(
        "console",
        lambda m: chat.console.append(m.text) if m.type == "error" and "Content Security Policy" in m.text else None,
    )
    return chat


def violations(chat: Chat) -> list[str]:
    return chat.page.evaluate("window.__violations") + chat.console


def expect_policy(chat: Chat) -> None:
    """The page was served with the policy, and nothing has been blocked on it."""
    header = chat.page.evaluate(
        "fetch(location.href, {credentials: 'same-origin'}).then(r => r.headers.get('content-security-policy'))"
    )
    assert "script-src 'self'" in header and "style-src 'self'" in header
    assert violations(chat) == []


def test_the_room_works_under_the_policy(people):
    """Guest form, room page, the socket (same-origin ws: under connect-src 'self'), a message both ways."""
    room = unique("csp")
    alice, bob = watched(people()), watched(people())

    alice.goto("/")
    expect(alice.page.locator("#rooms")).to_be_visible()
    expect_policy(alice)
    alice.page.fill("#room-name", room)
    alice.page.click("form.join button[type=submit]")  # form-action 'self', then a redirect
    alice.page.fill("#guest-name", "alice")
    alice.page.click("#guest-form button[type=submit]")
    alice.expect_live()
    bob.join(room, "bob")

    alice.type_and_send("under the policy\nsecond line")  # the composer's height is set from script
    bob.wait_for_count(1)
    assert bob.messages() == [(1, "alice", "under the policy\nsecond line")]
    alice.wait_for_count(1)
    expect(alice.page.locator("#presence li")).to_have_count(2)
    expect_policy(alice)
    expect_policy(bob)


def test_the_room_page_runs_as_modules(people):
    """The page's script is ES modules from this site (no build step): each served as JavaScript, none failing."""
    room = unique("csp-modules")
    alice = watched(people())
    errors: list[str] = []
    scripts: dict[str, tuple[int, str]] = {}  # url -> (status, content type) of every .js fetched

    def on_response(response: Response) -> None:
        if response.url.endswith(".js"):
            scripts[response.url] = (response.status, response.headers.get("content-type", ""))

    alice.page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    alice.page.on("response", on_response)
    alice.join(room, "alice")
    alice.send("from a module")
    alice.wait_for_count(1)

    entry = alice.page.evaluate(
        "[...document.querySelectorAll('script[src]')].map(s => [s.type, new URL(s.src).pathname])"
    )
    assert ["module", "/static/chat/room/main.js"] in entry
    assert all(kind == "module" for kind, _ in entry), entry  # no classic scripts left
    imported = {url.rsplit("/", 1)[1] for url in scripts if "/static/chat/room/" in url}
    assert {"main.js", "connection.js", "state.js", "view.js"} <= imported  # relative imports resolved
    assert all(status == 200 and "javascript" in kind for status, kind in scripts.values()), scripts
    assert errors == []
    expect_policy(alice)


def test_index_login_and_signup_work_under_the_policy(people):
    room = unique("csp-accounts")
    username = unique("csp").replace("-", "_")
    ada = watched(people())

    ada.goto("/")
    expect_policy(ada)
    ada.goto("/accounts/login/")
    expect(ada.page.locator("#login-form")).to_be_visible()
    expect_policy(ada)

    ada.goto(f"/accounts/signup/?next={room_path(room)}")
    ada.page.fill("#id_username", username)
    ada.page.fill("#id_password1", PASSWORD)
    ada.page.fill("#id_password2", PASSWORD)
    ada.page.click("#signup-form button[type=submit]")
    ada.expect_live()  # in the room as the new user
    expect(ada.page.locator(".whoami")).to_contain_text(username)
    ada.send("signed up under the policy")
    ada.wait_for_count(1)
    expect_policy(ada)

    # Log out and in again: both are forms posting to this site.
    ada.page.click("#logout")
    expect(ada.page.locator("#login-link")).to_be_visible()
    ada.page.click("#login-link")
    ada.page.fill("#id_username", username)
    ada.page.fill("#id_password", PASSWORD)
    ada.page.click("#login-form button[type=submit]")
    expect(ada.page.locator(".whoami")).to_contain_text(username)
    expect_policy(ada)


def test_the_language_menu_works_under_the_policy(people):
    """site.js submits the language form on change: a script event handler, not an inline one."""
    visitor = watched(people())
    visitor.goto("/")
    visitor.page.select_option("#language", "ko")
    expect(visitor.page.locator("html")).to_have_attribute("lang", "ko")
    expect_policy(visitor)
    visitor.page.select_option("#language", "en")
    expect(visitor.page.locator("html")).to_have_attribute("lang", "en")


def test_inline_script_style_and_foreign_sockets_are_blocked_and_seen(people, web):
    """What the policy is for, and proof that the watch above reports violations."""
    mallory = watched(people())
    mallory.goto("/")
    ran = mallory.page.evaluate(
        """() => new Promise((resolve) => {
             window.__ran = false;
             const s = document.createElement("script");
             s.textContent = "window.__ran = true";
             document.body.append(s);
             document.body.setAttribute("style", "background: red");
             try {
               new WebSocket("ws://example.invalid/").onerror = () => {};
             } catch (e) {}  // Chromium may refuse at once, with a SecurityError
             setTimeout(() => resolve(window.__ran), 300);
           })"""
    )
    assert ran is False
    expect(mallory.page.locator("body")).not_to_have_css("background-color", "rgb(255, 0, 0)")
    seen = " | ".join(violations(mallory))
    assert "script-src" in seen
    assert "style-src" in seen
    assert "connect-src" in seen
