"""The ``parley`` command: login, logout, chat, dm, send, tail (docs/terminal.md).

Exit status: 0 done, 1 the server refused or could not be reached (the reason on stderr), 2 bad
usage (argparse's own).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import signal
import sys
from typing import Any

import httpx

from terminal import config, web
from terminal.address import Target, normalize_server, parse_dm, parse_room
from terminal.i18n import _
from terminal.stream import State, Stream


def target_of(text: str) -> Target:
    """``@kim`` is the DM with kim; anything else ``[<ns>/]<room>``."""
    return parse_dm(text) if text.startswith("@") else parse_room(text)


def fail(message: str) -> int:
    print(f"parley: {message}", file=sys.stderr)
    return 1


def read_line(prompt: str) -> str:
    """A line typed by the user, or the next line of stdin when it is not a terminal (scripts, tests)."""
    if sys.stdin.isatty():
        return input(prompt)
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line.rstrip("\n")


def cmd_login(args: argparse.Namespace) -> int:
    try:
        server = normalize_server(args.server)
    except ValueError as error:
        return fail(str(error))
    host = server.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    if server.startswith("http://") and host not in ("localhost", "127.0.0.1", "::1"):
        warning = _("warning: {server} is not https: the password and the token cross the network in clear")
        print("parley: " + warning.format(server=server), file=sys.stderr)
    try:
        username = args.username or read_line(_("Username: ")).strip()
        password = getpass.getpass(_("Password: ")) if sys.stdin.isatty() else read_line("")
    except (EOFError, KeyboardInterrupt):
        return fail(_("login cancelled"))
    try:
        made = web.login(server, username, password)
    except web.ApiError as error:
        if error.status == 401:
            return fail(_("wrong username or password"))
        if error.status == 429:
            return fail(_("too many failed logins: wait a while and try again"))
        return fail(_("the server refused: {error}").format(error=error))
    except httpx.HTTPError as error:
        return fail(_("cannot reach {server}: {error}").format(server=server, error=error))
    with contextlib.suppress(config.ConfigError):
        previous = config.load()
        with contextlib.suppress(web.ApiError, httpx.HTTPError):
            web.logout(previous)  # one token per client: the one it replaces is revoked
    path = config.save(made)
    print(
        _("Logged in to {server} as {username}; the token is in {path}").format(
            server=server, username=made.username, path=path
        )
    )
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    try:
        saved = config.load()
    except config.ConfigError as error:
        return fail(str(error))
    try:
        revoked = web.logout(saved)
    except web.ApiError as error:
        return fail(
            _("the server refused to revoke the token ({error}); it is still in {path}").format(
                error=error, path=config.config_path()
            )
        )
    except httpx.HTTPError as error:
        return fail(
            _("cannot reach {server} to revoke the token ({error}); it is still in {path}").format(
                server=saved.server, error=error, path=config.config_path()
            )
        )
    config.remove()
    print(_("Logged out: the token is revoked.") if revoked else _("Logged out (the server no longer knew the token)."))
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    try:
        saved = config.load()
        target = parse_dm(args.username) if args.command == "dm" else target_of(args.room)
    except (config.ConfigError, ValueError) as error:
        return fail(str(error))
    from terminal.app import ChatApp  # Textual is imported only for the full screen

    app = ChatApp(saved.server, saved.token, target, saved.username)
    app.run()
    if app.state.kind == "closed" and app.state.detail != "closed":
        return fail(_(app.state.detail))
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    try:
        saved = config.load()
        target = target_of(args.room)
    except (config.ConfigError, ValueError) as error:
        return fail(str(error))
    text = " ".join(args.text) if args.text and args.text != ["-"] else sys.stdin.read()
    if not text.strip():
        return fail(_("nothing to send"))
    try:
        stored = web.post_message(saved, target, text.rstrip("\n"), reply_to=args.reply_to)
    except web.ApiError as error:
        return fail(_("not sent: {error}").format(error=error))
    except httpx.HTTPError as error:
        return fail(_("not sent: cannot reach {server}: {error}").format(server=saved.server, error=error))
    emit(stored)
    return 0


def emit(frame: dict[str, Any]) -> None:
    """One JSON line on stdout, flushed (a script reads it at once)."""
    sys.stdout.write(json.dumps(frame, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def tail_printer(history: bool) -> Any:
    """What ``parley tail`` does with each frame: room events (and the join's messages) as JSON lines."""

    def on_frame(frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "history":
            if frame.get("join") and not history:
                return
            if frame.get("join") or frame.get("resume"):
                for item in frame.get("messages", []):
                    emit(item)
        elif kind in ("message", "edit", "delete", "reaction"):
            emit(frame)

    return on_frame


def on_state(state: State) -> None:
    if state.kind == "reconnecting" and state.delay:
        said = _("connection lost, retrying in {delay:g} s (attempt {attempt})")
        print("parley: " + said.format(delay=state.delay, attempt=state.attempt), file=sys.stderr)
    elif state.kind == "connected" and state.detail:
        print("parley: " + _("connected as {name}").format(name=state.detail), file=sys.stderr)


async def tail(saved: config.Config, target: Target, after: int | None, history: bool) -> State:
    stream = Stream(saved.server, target, saved.token, on_frame=tail_printer(history), on_state=on_state, cursor=after)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, lambda: asyncio.ensure_future(stream.stop()))
    return await stream.run()


def cmd_tail(args: argparse.Namespace) -> int:
    try:
        saved = config.load()
        target = target_of(args.room)
    except (config.ConfigError, ValueError) as error:
        return fail(str(error))
    try:
        final = asyncio.run(tail(saved, target, args.after, not args.no_history))
    except BrokenPipeError:  # the reader went away (| head): done
        with contextlib.suppress(OSError):
            sys.stdout.close()
        return 0
    return 0 if final.detail == "closed" else fail(_(final.detail))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="parley", description="Parley in the terminal (docs/terminal.md).")
    commands = top.add_subparsers(dest="command", required=True, metavar="command")

    login = commands.add_parser("login", help="log in to a server and keep an API token")
    login.add_argument("server", help="the server's URL, e.g. https://chat.example.org")
    login.add_argument("--username", "-u", help="(else asked)")
    login.set_defaults(run=cmd_login)

    logout = commands.add_parser("logout", help="revoke the token and forget it")
    logout.set_defaults(run=cmd_logout)

    chat = commands.add_parser("chat", help="the full-screen chat in a room")
    chat.add_argument("room", help="<room>, <namespace>/<room>, or @<username> for a direct message")
    chat.set_defaults(run=cmd_chat)

    dm = commands.add_parser("dm", help="the full-screen chat with one person")
    dm.add_argument("username")
    dm.set_defaults(run=cmd_chat)

    send = commands.add_parser("send", help="post a message (the text, or stdin) and print it as JSON")
    send.add_argument("room", help="<room>, <namespace>/<room>, or @<username>")
    send.add_argument("text", nargs="*", help="the message; none or '-': read stdin")
    send.add_argument("--reply-to", type=int, metavar="ID", help="the id of the message it answers")
    send.set_defaults(run=cmd_send)

    tail_ = commands.add_parser("tail", help="print the room's events as JSON lines, following it")
    tail_.add_argument("room", help="<room>, <namespace>/<room>, or @<username>")
    tail_.add_argument("--after", type=int, metavar="ID", help="start with the events after this id")
    tail_.add_argument("--no-history", action="store_true", help="without --after: skip the recent messages")
    tail_.set_defaults(run=cmd_tail)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    status: int = args.run(args)
    return status
