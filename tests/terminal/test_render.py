"""How a message looks in the terminal: widths by display cells (Korean and emoji take two), code
blocks as code, mentions highlighted. Pure: Rich renders into a console of a chosen width."""

from __future__ import annotations

import io

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.syntax import Syntax
from rich.text import Text

from terminal import render
from terminal.room import Message

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes


def lines(message: Message, width: int, me: str = "lee") -> list[str]:
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None, legacy_windows=False)
    console.print(render.render(message, me))
    return console.export_text().rstrip("\n").split("\n")


def test_korean_and_emoji_wrap_by_display_width():
    text = "안녕하세요 여러분 오늘 회의는 세시입니다 🎉👍🏽👨‍👩‍👧 좋아요"
    assert cell_len("안녕") == 4 and cell_len("🎉") == 2
    for width in (12, 17, 23, 40):
        shown = lines(Message(id=1, sender="kim", text=text), width)
        assert all(cell_len(line) <= width for line in shown), (width, shown)
        body = "".join(shown[1:]).replace(" ", "")
        assert body == text.replace(" ", "")  # nothing cut, no character broken in two
    # a wide character never straddles the edge: an odd width leaves the last cell empty instead
    narrow = lines(Message(id=1, sender="kim", text="가나다라마바"), 5)
    assert narrow[-3:] == ["가나", "다라", "마바"]  # (the header above wraps too)


def test_code_blocks_are_code():
    source = "보세요:\n```python\ndef f(x):\n    return x  # 네\n```\n그리고 `pip` 도"
    pieces = render.split_code(source)
    assert [kind for kind, _, _ in pieces] == ["text", "code", "text"]
    assert pieces[1] == ("code", "def f(x):\n    return x  # 네", "python")
    body = render.body(Message(id=1, sender="kim", text=source), "lee")
    assert isinstance(body[1], Syntax) and body[1].lexer is not None and body[1].lexer.name == "Python"
    shown = lines(Message(id=1, sender="kim", text=source), 40)
    assert "    return x  # 네" in [line.rstrip() for line in shown]  # indentation kept
    tail = body[2]
    assert isinstance(tail, Text) and any(span.style == render.STYLE_CODE for span in tail.spans)
    unclosed = render.split_code("```\nstill code")
    assert unclosed == [("code", "still code", None)]


def test_mentions_are_highlighted_and_mine_most():
    message = Message(id=1, sender="kim", text="@lee, @park 그리고 @nobody 확인", mentions=["lee", "park"])
    (body,) = render.body(message, "lee")
    assert isinstance(body, Text)
    styled = {body.plain[s.start : s.end]: s.style for s in body.spans}
    assert styled == {"@lee": render.STYLE_MENTION_ME, "@park": render.STYLE_MENTION}  # not the comma, not @nobody
    assert render.mentions_me(message, "LEE") and not render.mentions_me(message, "choi")


def test_edits_deletes_replies_and_reactions_are_shown():
    parent = Message(id=3, sender="park", text="원래 질문")
    message = Message(id=5, sender="kim", text="답", reply_to=3, edited=True, reactions={"👍": ["lee", "park"]})
    shown = lines(message, 80)
    assert shown[0].startswith("#5 kim (edited)") or "kim (edited)" in shown[0]
    console = Console(file=io.StringIO(), width=80, record=True, color_system=None)
    console.print(render.render(message, "lee", parent))
    text = console.export_text()
    assert "↳ #3 park: 원래 질문" in text and "👍 2 lee, park" in text
    gone = lines(Message(id=6, sender="kim", text="", deleted=True), 40)
    assert gone[1] == "(deleted)"


def test_attachments_are_listed():
    files = [{"id": 7, "name": "스크린샷.png", "size": 48213, "url": "/files/7/x.png"}]
    shown = "\n".join(lines(Message(id=1, sender="kim", text="", attachments=files), 60))
    assert "📎 스크린샷.png (47.1 KiB) /files/7/x.png" in shown
