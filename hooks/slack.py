"""Slack's incoming-webhook JSON as a Parley message (pure: no database, no I/O).

Slack's message format (https://api.slack.com/reference/surfaces/formatting) is "mrkdwn": ``*bold*``,
``_italic_``, ``~strike~``, ``<url|label>`` links, ``<!here>``-style mentions, ``&amp;`` escapes.
Tools (GitHub Actions' slack notifiers, Grafana, Alertmanager, Jenkins...) send ``text``,
``blocks`` (section, header, context, rich_text, fields) and the legacy ``attachments``
(``pretext``, ``title``/``title_link``, ``text``, ``fields``, ``fallback``). Everything with text is
kept, in that order, as CommonMark; buttons, images and dividers carry no text of their own (an
image's alt text and a button's URL are kept as links).
"""

from __future__ import annotations

import re
from typing import Any

_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")


class NotAMessage(ValueError):
    """The payload holds no text to post."""


def _link(match: re.Match[str]) -> str:
    target, label = match.group(1), match.group(2)
    if target.startswith("!"):  # <!here>, <!channel>, <!subteam^ID|@team>, <!date^...|fallback>
        return label or "@" + target[1:].split("^", 1)[0]
    if target.startswith(("@", "#")):  # <@U123|name>, <#C123|general>
        return (target[0] + label) if label else target
    return f"[{label}]({target})" if label else f"<{target}>"


def mrkdwn(text: str) -> str:
    """Slack mrkdwn to CommonMark: links, ``*bold*`` -> ``**bold**``, ``~x~`` -> ``~~x~~``, and
    Slack's three HTML escapes undone (Parley escapes on rendering)."""
    text = _LINK.sub(_link, text)
    text = _BOLD.sub(r"**\1**", text)
    text = _STRIKE.sub(r"~~\1~~", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text_object(obj: Any) -> str:
    """A composition text object (``{"type": "mrkdwn"|"plain_text", "text"}``) as Markdown."""
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        return ""
    return mrkdwn(obj["text"]) if obj.get("type") == "mrkdwn" else obj["text"]


def _rich(elements: Any) -> str:
    """The text of a rich_text block's elements (sections, lists, quotes, code)."""
    out: list[str] = []
    for element in elements if isinstance(elements, list) else []:
        if not isinstance(element, dict):
            continue
        kind = element.get("type")
        if kind in ("rich_text_section", "rich_text_preformatted", "rich_text_quote"):
            inner = "".join(_rich_inline(e) for e in element.get("elements") or [] if isinstance(e, dict))
            if kind == "rich_text_preformatted":
                inner = f"```\n{inner}\n```"
            elif kind == "rich_text_quote":
                inner = "\n".join("> " + line for line in inner.split("\n"))
            out.append(inner)
        elif kind == "rich_text_list":
            items = [_rich([item]) for item in element.get("elements") or []]
            ordered = element.get("style") == "ordered"
            out.append("\n".join(f"{n}. {i}" if ordered else f"- {i}" for n, i in enumerate(items, 1)))
    return "\n".join(out)


def _rich_inline(element: dict[str, Any]) -> str:
    kind = element.get("type")
    if kind == "text":
        text = str(element.get("text", ""))
        style = element.get("style") or {}
        if isinstance(style, dict) and text.strip():
            if style.get("code"):
                text = f"`{text}`"
            if style.get("bold"):
                text = f"**{text}**"
            if style.get("italic"):
                text = f"_{text}_"
            if style.get("strike"):
                text = f"~~{text}~~"
        return text
    if kind == "link":
        url = str(element.get("url", ""))
        return f"[{element['text']}]({url})" if element.get("text") else f"<{url}>"
    if kind == "emoji":
        try:
            return "".join(chr(int(cp, 16)) for cp in str(element.get("unicode", "")).split("-"))
        except ValueError:
            return f":{element.get('name', '')}:"
    if kind in ("user", "usergroup", "channel"):
        return "@" + str(element.get(f"{kind}_id", ""))
    if kind == "broadcast":
        return "@" + str(element.get("range", "here"))
    return ""


def _block(block: Any) -> str:
    if not isinstance(block, dict):
        return ""
    kind = block.get("type")
    if kind == "header":
        title = _text_object(block.get("text"))
        return f"### {title}" if title else ""
    if kind == "section":
        parts = [_text_object(block.get("text"))]
        fields = [" ".join(_text_object(f).split("\n")) for f in block.get("fields") or []]
        parts.extend(f"- {f}" for f in fields if f)
        accessory = block.get("accessory")
        if isinstance(accessory, dict) and accessory.get("type") == "button" and accessory.get("url"):
            parts.append(f"[{_text_object(accessory.get('text')) or accessory['url']}]({accessory['url']})")
        return "\n".join(p for p in parts if p)
    if kind == "context":
        texts = [_text_object(e) for e in block.get("elements") or []]
        return " · ".join(t for t in texts if t)
    if kind == "rich_text":
        return _rich(block.get("elements"))
    if kind == "actions":
        links = [
            f"[{_text_object(e.get('text')) or e['url']}]({e['url']})"
            for e in block.get("elements") or []
            if isinstance(e, dict) and e.get("type") == "button" and e.get("url")
        ]
        return " ".join(links)
    if kind == "image":
        alt = block.get("alt_text") or "image"
        return f"[{alt}]({block['image_url']})" if block.get("image_url") else ""
    return ""  # divider, input, file...: no text


def _attachment(att: Any) -> str:
    """A legacy attachment: pretext, author, title (linked), text, fields, footer; else fallback."""
    if not isinstance(att, dict):
        return ""
    lines: list[str] = []

    def text(key: str) -> str:
        value = att.get(key)
        return mrkdwn(value) if isinstance(value, str) else ""

    if text("pretext"):
        lines.append(text("pretext"))
    if text("author_name"):
        lines.append(f"_{text('author_name')}_")
    title = text("title")
    if title:
        link = att.get("title_link")
        lines.append(f"**[{title}]({link})**" if isinstance(link, str) and link else f"**{title}**")
    if text("text"):
        lines.append(text("text"))
    for field in att.get("fields") or []:
        if isinstance(field, dict) and (field.get("title") or field.get("value")):
            title = mrkdwn(str(field.get("title") or ""))
            value = mrkdwn(str(field.get("value") or ""))
            lines.append(f"- **{title}**: {value}" if title else f"- {value}")
    lines.extend(b for b in (_block(b) for b in att.get("blocks") or []) if b)
    if text("footer"):
        lines.append(text("footer"))
    if not lines and text("fallback"):
        lines.append(text("fallback"))
    return "\n".join(lines)


def to_markdown(payload: dict[str, Any]) -> tuple[str, str | None]:
    """The message of a Slack incoming-webhook payload, and its ``username`` (None if not given).

    ``text`` first, then the text of ``blocks``, then of ``attachments``, as separate paragraphs.
    When ``blocks`` are given, Slack shows them and uses ``text`` as the notification's fallback:
    then ``text`` is kept only if no block has text. Raises NotAMessage when nothing has text."""
    text = mrkdwn(payload["text"]) if isinstance(payload.get("text"), str) else ""
    blocks = [b for b in (_block(b) for b in _list(payload.get("blocks"))) if b.strip()]
    attachments = [a for a in (_attachment(a) for a in _list(payload.get("attachments"))) if a.strip()]
    parts = ([] if blocks else [text]) + blocks + attachments
    message = "\n\n".join(p.strip("\n") for p in parts if p.strip())
    if not message:
        raise NotAMessage("the payload holds no text: give `text`, `blocks` or `attachments`")
    username = payload.get("username")
    return message, username if isinstance(username, str) and username.strip() else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
