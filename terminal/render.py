"""A message as the terminal shows it: a Rich renderable.

- The text is the author's Markdown source (docs/protocol.md): fenced code blocks are shown as code
  (Pygments through ``rich.syntax``, the block's language when it names one), `inline code` in its
  own style, the rest as text; ``@name`` of a name the message mentions is highlighted, more
  strongly when it is you, and a message that mentions you is marked in the margin.
- Widths are display cells, never characters: Rich measures each character (a Hangul syllable or
  an emoji takes two cells, a combining mark none), so Korean and emoji wrap at the terminal's edge
  without breaking a character in two or overrunning the line.
- The server's ``html`` is not used: a terminal shows text, and the source is what the author wrote.
"""

from __future__ import annotations

import re

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text

from terminal.i18n import _, ngettext
from terminal.room import Message

FENCE = re.compile(  # a fenced block: ``` or ~~~ (with a language), to its closing fence or the end
    r"^(?P<fence>```+|~~~+)[ \t]*(?P<lang>[^\s`]*)[^\n]*\n(?P<code>.*?)(?:^(?P=fence)[ \t]*$|\Z)", re.M | re.S
)
MENTION = re.compile(r"@(\S+)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.S)
TRAILING = ".,:;!?)]}'\""  # a mention runs to white space, without trailing punctuation (as the server reads it)

STYLE_SENDER = "bold cyan"
STYLE_ME = "bold green"
STYLE_MENTION = "bold magenta"
STYLE_MENTION_ME = "bold black on yellow"
STYLE_CODE = "bold white on grey23"
STYLE_DIM = "dim"
THEME = "ansi_dark"  # Pygments colours from the terminal's own palette


def split_code(text: str) -> list[tuple[str, str, str | None]]:
    """The text in pieces: ("text", piece, None) and ("code", block, language or None)."""
    pieces: list[tuple[str, str, str | None]] = []
    at = 0
    for match in FENCE.finditer(text):
        if match.start() > at:
            pieces.append(("text", text[at : match.start()], None))
        pieces.append(("code", match.group("code").rstrip("\n"), match.group("lang") or None))
        at = match.end()
    if at < len(text):
        pieces.append(("text", text[at:], None))
    return pieces


def styled_text(text: str, mentions: list[str], me: str) -> Text:
    """Plain text with `inline code` and the mentioned names styled."""
    out = Text()
    mentioned = {name.casefold() for name in mentions}
    at = 0
    for match in INLINE_CODE.finditer(text):
        out.append_text(_mentions(text[at : match.start()], mentioned, me))
        out.append(match.group(2), style=STYLE_CODE)
        at = match.end()
    out.append_text(_mentions(text[at:], mentioned, me))
    return out


def _mentions(text: str, mentioned: set[str], me: str) -> Text:
    out = Text()
    at = 0
    for match in MENTION.finditer(text):
        name = match.group(1).rstrip(TRAILING)
        if not name or name.casefold() not in mentioned:
            continue
        end = match.start() + 1 + len(name)
        out.append(text[at : match.start()])
        style = STYLE_MENTION_ME if name.casefold() == me.casefold() else STYLE_MENTION
        out.append(text[match.start() : end], style=style)
        at = end
    out.append(text[at:])
    return out


def mentions_me(message: Message, me: str) -> bool:
    return me.casefold() in {name.casefold() for name in message.mentions}


def header(message: Message, me: str, parent: Message | None = None) -> Text:
    """``#42 14:05 kim (edited) ↳ #40 lee``: the id (for /reply and /react), the time, the sender."""
    out = Text()
    out.append(f"#{message.id} ", style=STYLE_DIM)
    if len(message.ts) >= 16:
        out.append(message.ts[11:16] + " ", style=STYLE_DIM)
    out.append(message.sender, style=STYLE_ME if message.sender == me else STYLE_SENDER)
    if message.bot:
        out.append(" [" + _("bot") + "]", style="bold blue")
    if message.edited and not message.deleted:
        out.append(" (" + _("edited") + ")", style=STYLE_DIM)
    if message.reply_to is not None:
        out.append(f"  ↳ #{message.reply_to}", style=STYLE_DIM)
        if parent is not None:
            snippet = " ".join(parent.text.split())[:40] if not parent.deleted else "(" + _("deleted") + ")"
            out.append(f" {parent.sender}: {snippet}", style=STYLE_DIM)
    if message.replies:
        replies = ngettext("{count} reply", "{count} replies", message.replies).format(count=message.replies)
        out.append(f"  [{replies}]", style=STYLE_DIM)
    return out


def reactions(message: Message) -> Text | None:
    """``👍 2 lee, park   🎉 1 kim``, or None."""
    if not message.reactions:
        return None
    out = Text()
    for emoji, names in message.reactions.items():
        if out:
            out.append("   ")
        out.append(f"{emoji} {len(names)}", style="bold")
        out.append(" " + ", ".join(names), style=STYLE_DIM)
    return out


def size(count: int) -> str:
    """A file size for people: ``812 B``, ``47.1 KiB``, ``3.2 MiB``."""
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / 1024 / 1024:.1f} MiB"


def attachments(message: Message) -> list[RenderableType]:
    """``📎 screenshot.png (47.1 KiB) /files/7/screenshot.png``: one line per upload (its path on
    the server: open it in a browser with your session, or fetch it with the token)."""
    out: list[RenderableType] = []
    for item in message.attachments:
        line = Text("📎 ")
        line.append(str(item.get("name", _("file"))), style="bold")
        if isinstance(item.get("size"), int):
            line.append(f" ({size(item['size'])})", style=STYLE_DIM)
        if item.get("url"):
            line.append(f" {item['url']}", style="underline")
        out.append(line)
    return out


def body(message: Message, me: str) -> list[RenderableType]:
    if message.deleted:
        return [Text("(" + _("deleted") + ")", style="dim italic")]
    parts: list[RenderableType] = []
    for kind, piece, language in split_code(message.text):
        if kind == "code":
            parts.append(Syntax(piece, language or "text", theme=THEME, word_wrap=True, background_color="default"))
        else:
            piece = piece.strip("\n")
            if piece:
                parts.append(styled_text(piece, message.mentions, me))
    return parts + attachments(message)


def render(message: Message, me: str, parent: Message | None = None) -> RenderableType:
    """The whole message: header, body, reactions."""
    parts: list[RenderableType] = [header(message, me, parent), *body(message, me)]
    extra = reactions(message)
    if extra is not None:
        parts.append(extra)
    return Group(*parts)
