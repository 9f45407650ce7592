"""``parley chat`` and ``parley dm``: the full-screen chat on Textual.

The screen: the messages (scroll-back through older pages), who is here, who is typing, a status
line for the connection, and the composer. Frames come from a ``Stream`` (reconnects, resumes with
``?after=``) and are applied to a ``Room`` (never twice); each message is one widget, updated in
place by edits, deletes and reactions. Keys and commands are in docs/terminal.md.
"""

from __future__ import annotations

import bisect
import time
from typing import Any, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widget import AwaitMount
from textual.widgets import Input, Static

from terminal import render
from terminal.address import Target
from terminal.i18n import _, ngettext
from terminal.room import Room
from terminal.stream import RESEND_CODES, State, Stream
from terminal.words import error_text

PAGE = 50  # messages per older page
TYPING_EVERY = 2.0  # seconds between our typing frames while the user types (the server passes 1/s)
READ_EVERY = 1.0  # seconds between read-cursor frames while new messages arrive
HELP = (
    "Enter send · ↑ edit your last · Ctrl+R reply · Alt+↑/↓ select · PgUp older · Esc cancel · Ctrl+Q quit · "
    "/reply N text · /edit text · /delete [N] · /react N 👍 · /unreact N 👍"
)  # shown through _(): the Korean catalogue has it


class MessageView(Static):
    """One message; re-rendered in place when it changes."""

    DEFAULT_CSS = """
    MessageView { padding: 0 1; margin: 0 0 1 0; }
    MessageView.mine-mention { border-left: thick $warning; }
    MessageView.selected { background: $boost; }
    """

    def __init__(self, message_id: int) -> None:
        super().__init__(id=f"m{message_id}")
        self.message_id = message_id


class MessageLog(VerticalScroll):
    """The messages. Scrolled to the very top (wheel, keys, scroll bar), it asks for older ones."""

    class AtTop(Message):
        """Posted when the log reaches its top by scrolling."""

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value <= 0 < old_value:
            self.post_message(self.AtTop())


class ChatApp(App[None]):
    """The chat screen for one room (or DM) of one server, as the logged-in user."""

    TITLE = "parley"
    CSS = """
    #main { height: 1fr; }
    #log { width: 1fr; }
    #people { width: 22; border-left: solid $panel-lighten-2; padding: 0 1; }
    #typing { height: 1; padding: 0 1; color: $text-muted; }
    #mode { height: auto; padding: 0 1; color: $warning; }
    #status { height: 1; padding: 0 1; background: $panel; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("pageup", "older", "Older", show=False),
        Binding("pagedown", "newer", "Newer", show=False),
        Binding("up", "edit_last", "Edit last", show=False),
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("ctrl+r", "reply", "Reply", show=False),
        Binding("alt+up", "select(-1)", "Select previous", show=False),
        Binding("alt+down", "select(1)", "Select next", show=False),
    ]

    def __init__(self, server: str, token: str, target: Target, username: str = "") -> None:
        super().__init__()
        self.target = target
        self.room = Room()
        self.me = username
        self.stream = Stream(server, target, token, on_frame=self.on_frame, on_state=self.on_state)
        self.state = State("connecting")
        self.people: list[str] = []
        self.typing: dict[str, float] = {}  # name -> when their hint expires (monotonic)
        self.typing_timeout = 5.0
        self.mode: tuple[str, int] | None = None  # ("reply" | "edit", message id)
        self.selected: int | None = None
        self.loading_older = False
        self.errors: list[dict[str, Any]] = []  # error frames, newest last (the tests read them)
        self._mounted: list[int] = []  # ids of the message widgets, ascending
        self._last_typing = 0.0
        self._read_sent = 0
        self._read_at = 0.0
        self._read_due = False

    # --- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield MessageLog(id="log")
            yield Static(id="people")
        yield Static(id="typing")
        yield Static(id="mode")
        yield Static(id="status")
        yield Input(placeholder=_("Message {where}  (/help)").format(where=self.target.label), id="composer")

    def on_mount(self) -> None:
        self.sub_title = self.target.label
        self.query_one("#composer", Input).focus()
        self.run_worker(self._run_stream(), name="stream", exit_on_error=False)
        self.set_interval(0.5, self._tick)
        self._show_status()

    async def _run_stream(self) -> None:
        await self.stream.run()

    async def on_unmount(self) -> None:
        await self.stream.stop()

    # --- frames from the server ----------------------------------------------------------------

    def on_frame(self, frame: dict[str, Any]) -> None:
        """Called by the stream for every frame, in order, on the app's loop."""
        kind = frame.get("type")
        if kind == "hello":
            self.me = str(frame.get("you", {}).get("name", self.me))
            self.typing_timeout = float(frame.get("limits", {}).get("typing_timeout", 5.0))
        elif kind == "history":
            self._history(frame)
        elif kind in ("message", "edit", "delete", "reaction"):
            changed = self.room.apply(frame)
            if changed is not None:
                self._sync(self._touched(changed), follow=True)
                if kind == "message":
                    self.typing.pop(str(frame.get("sender", "")), None)
                    self._read_due = True
        elif kind == "presence":
            self.people = [str(name) for name in frame.get("users", [])]
            self._show_people()
        elif kind == "typing":
            sender = str(frame.get("sender", ""))
            if sender and sender != self.me:
                self.typing[sender] = time.monotonic() + self.typing_timeout
                self._show_typing()
        elif kind == "error":
            self.errors.append(frame)
            if frame.get("code") not in RESEND_CODES or "client_id" not in frame:  # those are sent again
                self.notify(error_text(frame), severity="error")
        elif kind == "removed":
            said = _("removed from the room ({reason}) {note}")
            self.notify(said.format(reason=frame.get("reason"), note=frame.get("note", "")), severity="error")
        elif kind == "mention":
            said = _("{sender} mentioned you in {room}: {message}")
            self.notify(
                said.format(sender=frame.get("sender"), room=frame.get("room"), message=frame.get("message", ""))
            )
        elif kind == "dm":
            said = _("direct message from {sender}: {message}")
            self.notify(said.format(sender=frame.get("sender"), message=frame.get("message", "")))

    def _history(self, frame: dict[str, Any]) -> None:
        if frame.get("join"):
            self.room.join_history(int(self.stream.hello.get("last_id", 0)), frame)
            self._rebuild()
            self._read_due = True
        elif frame.get("resume"):
            changed: set[int] = set()
            for event in frame.get("messages", []):
                found = self.room.apply(event)
                if found is not None:
                    changed |= self._touched(found)
            self._sync(changed, follow=True)
            self._read_due = True
        else:
            anchor = self._mounted[0] if self._mounted else None
            mounts = self._sync(self.room.page(frame), follow=False)
            self.loading_older = False
            if anchor is not None:
                self.run_worker(self._keep_place(anchor, mounts), exit_on_error=False)

    def _touched(self, message_id: int) -> set[int]:
        """The messages to draw again when ``message_id`` changed: itself, the one it answers (its
        reply count) and those answering it (they quote its text)."""
        ids = {message_id}
        message = self.room.messages.get(message_id)
        if message is not None and message.reply_to is not None:
            ids.add(message.reply_to)
        ids.update(m.id for m in self.room.messages.values() if m.reply_to == message_id)
        return ids

    def on_state(self, state: State) -> None:
        self.state = state
        self._show_status()

    # --- drawing -------------------------------------------------------------------------------

    def _draw(self, view: MessageView) -> None:
        message = self.room.messages.get(view.message_id)
        if message is None:
            return
        parent = self.room.messages.get(message.reply_to) if message.reply_to is not None else None
        view.update(render.render(message, self.me, parent))
        view.set_class(render.mentions_me(message, self.me) and message.sender != self.me, "mine-mention")
        view.set_class(view.message_id == self.selected, "selected")

    def _rebuild(self) -> None:
        """After a join's history: the screen shows exactly the room's messages. Widgets of messages
        still there are drawn again in place (a reconnect that joined afresh keeps them), the others
        removed, the new ones mounted in order."""
        log = self.query_one("#log", VerticalScroll)
        gone = [i for i in self._mounted if i not in self.room.messages]
        for message_id in gone:
            self.query_one(f"#m{message_id}", MessageView).remove()
        self._mounted = [i for i in self._mounted if i in self.room.messages]
        self._sync(set(self.room.messages), follow=False)
        self.call_after_refresh(log.scroll_end, animate=False)

    async def _keep_place(self, anchor: int, mounts: list[AwaitMount]) -> None:
        """After an older page is mounted above: the message that was at the top stays there."""
        for mount in mounts:
            await mount
        log = self.query_one("#log", VerticalScroll)
        widget = self.query_one(f"#m{anchor}", MessageView)
        self.call_after_refresh(log.scroll_to_widget, widget, top=True, animate=False)

    def _sync(self, ids: set[int], follow: bool) -> list[AwaitMount]:
        """Draw the messages ``ids`` again, mounting those new to the screen in id order; returns
        the mounts (awaitable: done when the new widgets are on the screen)."""
        mounts: list[AwaitMount] = []
        log = self.query_one("#log", VerticalScroll)
        at_bottom = log.scroll_y >= log.max_scroll_y - 1
        for message_id in sorted(ids):
            if message_id not in self.room.messages:
                continue
            if message_id in self._mounted:
                self._draw(self.query_one(f"#m{message_id}", MessageView))
                continue
            view = MessageView(message_id)
            self._draw(view)
            position = bisect.bisect(self._mounted, message_id)
            if position < len(self._mounted):
                mounts.append(log.mount(view, before=self.query_one(f"#m{self._mounted[position]}", MessageView)))
            else:
                mounts.append(log.mount(view))
            self._mounted.insert(position, message_id)
        if follow and at_bottom:
            self.call_after_refresh(log.scroll_end, animate=False)
        return mounts

    def _show_status(self) -> None:
        state = self.state
        where = self.target.label
        if state.kind == "connected":
            line = Text.assemble(
                ("● " + _("connected"), "bold green"), "  " + _("{where} as {me}").format(where=where, me=self.me)
            )
        elif state.kind in ("connecting", "reconnecting"):
            detail = ""
            if state.delay:
                said = _("attempt {attempt}, retrying in {delay:g} s")
                detail = " (" + said.format(attempt=state.attempt, delay=state.delay) + ")"
            elif state.attempt:
                detail = " (" + _("attempt {attempt}").format(attempt=state.attempt) + ")"
            kind = _("connecting…") if state.kind == "connecting" else _("reconnecting…")
            line = Text.assemble(("○ " + kind, "bold yellow"), f"  {where}{detail}")
        else:
            line = Text.assemble(("✕ " + _("disconnected"), "bold red"), f"  {where}: {_(state.detail)}")
        pending = len(self.stream.pending)
        if pending:
            line.append(
                "  · " + ngettext("{count} unsent", "{count} unsent", pending).format(count=pending), style="yellow"
            )
        self.query_one("#status", Static).update(line)

    def _show_people(self) -> None:
        text = Text(_("{count} here").format(count=len(self.people)) + "\n", style="bold")
        for name in self.people:
            text.append(("● " if name != self.me else "◉ ") + name + "\n", style="green" if name == self.me else "")
        self.query_one("#people", Static).update(text)

    def _show_typing(self) -> None:
        now = time.monotonic()
        self.typing = {name: until for name, until in self.typing.items() if until > now}
        names = sorted(self.typing)
        line = ""
        if names:
            line = ngettext("{names} is typing…", "{names} are typing…", len(names)).format(names=", ".join(names))
        self.query_one("#typing", Static).update(line)

    def _show_mode(self) -> None:
        line = ""
        if self.mode is not None:
            kind, message_id = self.mode
            message = self.room.messages.get(message_id)
            who = message.sender if message else "?"
            said = (
                _("replying to #{id} ({who}) · Esc cancels")
                if kind == "reply"
                else _("editing #{id} ({who}) · Esc cancels")
            )
            line = said.format(id=message_id, who=who)
        self.query_one("#mode", Static).update(line)

    async def _tick(self) -> None:
        """Twice a second: expire typing hints, refresh the status, move the read cursor."""
        self._show_typing()
        self._show_status()
        cursor = self.room.cursor
        now = time.monotonic()
        if self._read_due and cursor and cursor > self._read_sent and self.stream.connected:
            if now - self._read_at < READ_EVERY:
                return
            self._read_due, self._read_at = False, now
            if await self.stream.send({"type": "read", "up_to": cursor}):
                self._read_sent = cursor

    # --- the composer --------------------------------------------------------------------------

    async def on_input_changed(self, event: Input.Changed) -> None:
        now = time.monotonic()
        if event.value and not event.value.startswith("/") and now - self._last_typing >= TYPING_EVERY:
            self._last_typing = now
            await self.stream.send({"type": "typing"})

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value
        event.input.value = ""
        mode, self.mode = self.mode, None
        self._show_mode()
        if mode is not None and mode[0] == "edit":
            await self._edit(mode[1], text)
        elif text.startswith("/") and not text.startswith("//"):
            await self._command(text)
        elif text.strip():
            text = text[1:] if text.startswith("//") else text
            await self.stream.send_message(text, reply_to=mode[1] if mode else None)
            self._show_status()

    async def _edit(self, message_id: int, text: str) -> None:
        if text.strip():
            await self._send_or_say({"type": "edit", "target": message_id, "message": text})
        else:  # an edit to nothing deletes, as in the chats people know
            await self._send_or_say({"type": "delete", "target": message_id})

    async def _send_or_say(self, frame: dict[str, Any]) -> None:
        if not await self.stream.send(frame):
            self.notify(_("not connected: try again in a moment"), severity="warning")

    async def _command(self, text: str) -> None:
        name, _space, rest = text[1:].partition(" ")
        args = rest.split()
        try:
            if name == "reply" and args:
                body = rest.strip().partition(" ")[2]
                await self.stream.send_message(body, reply_to=int(args[0]))
            elif name == "edit":
                mine = self.room.last_of(self.me)
                if mine is None:
                    self.notify(_("you have no message here to edit"), severity="warning")
                else:
                    await self._edit(mine.id, rest)
            elif name == "delete":
                if args:
                    target: int | None = int(args[0])
                else:
                    mine = self.room.last_of(self.me)
                    target = mine.id if mine else None
                if target is None:
                    self.notify(_("you have no message here to delete"), severity="warning")
                else:
                    await self._send_or_say({"type": "delete", "target": target})
            elif name in ("react", "unreact") and len(args) == 2:
                op = "add" if name == "react" else "remove"
                await self._send_or_say({"type": "reaction", "target": int(args[0]), "emoji": args[1], "op": op})
            elif name in ("quit", "exit"):
                self.exit()
            else:
                self.notify(_(HELP), timeout=15)
        except ValueError:
            self.notify(_(HELP), timeout=15)

    # --- keys ----------------------------------------------------------------------------------

    async def action_older(self) -> None:
        """Page up; at the top, ask the server for the page before the oldest message we hold."""
        log = self.query_one("#log", VerticalScroll)
        if log.scroll_y > 0:
            log.scroll_page_up(animate=False)
            return
        await self._load_older()

    async def on_message_log_at_top(self, event: MessageLog.AtTop) -> None:
        await self._load_older()

    async def _load_older(self) -> None:
        oldest = self.room.oldest
        if self.room.older and oldest is not None and not self.loading_older:
            self.loading_older = await self.stream.send({"type": "history", "before": oldest, "limit": PAGE})

    def action_newer(self) -> None:
        self.query_one("#log", VerticalScroll).scroll_page_down(animate=False)

    def action_edit_last(self) -> None:
        composer = self.query_one("#composer", Input)
        if composer.value:
            return
        mine = self.room.last_of(self.me)
        if mine is None:
            return
        self.mode = ("edit", mine.id)
        composer.value = mine.text
        composer.cursor_position = len(mine.text)
        self._show_mode()

    def action_reply(self) -> None:
        target = self.selected or (self._mounted[-1] if self._mounted else None)
        if target is not None:
            self.mode = ("reply", target)
            self._show_mode()

    def action_cancel(self) -> None:
        if self.mode is not None and self.mode[0] == "edit":
            self.query_one("#composer", Input).value = ""
        self.mode = None
        self._select(None)
        self._show_mode()

    def action_select(self, step: int) -> None:
        if not self._mounted:
            return
        if self.selected is None or self.selected not in self._mounted:
            position = len(self._mounted) - 1 if step < 0 else 0
        else:
            position = max(0, min(len(self._mounted) - 1, self._mounted.index(self.selected) + step))
        self._select(self._mounted[position])

    def _select(self, message_id: int | None) -> None:
        previous, self.selected = self.selected, message_id
        for changed in (previous, message_id):
            if changed is not None and changed in self._mounted:
                view = self.query_one(f"#m{changed}", MessageView)
                self._draw(view)
                if changed == message_id:
                    self.query_one("#log", VerticalScroll).scroll_to_widget(view, animate=False)
