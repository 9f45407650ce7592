"""The client speaks Korean where the environment asks for it (LANG=ko_KR.UTF-8), and every word
it shows has its Korean."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from terminal import i18n, render
from terminal.app import HELP
from terminal.room import Message
from terminal.stream import FINAL_CLOSES
from terminal.words import ERRORS, error_text
from tests.terminal.conftest import Cli

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes

SOURCES = sorted(Path(i18n.__file__).parent.glob("*.py"))


def message_ids() -> tuple[set[str], set[tuple[str, str]]]:
    """Every message id the client passes to _(), and the constants it translates; the ngettext pairs."""
    found: set[str] = {HELP, "closed", *FINAL_CLOSES.values(), *ERRORS.values()}
    plurals: set[tuple[str, str]] = set()
    for source in SOURCES:
        text = source.read_text(encoding="utf-8")
        found.update(re.findall(r'\b_\("((?:[^"\\]|\\.)*)"\)', text))
        plurals.update(re.findall(r'ngettext\(\s*"((?:[^"\\]|\\.)*)",\s*"((?:[^"\\]|\\.)*)"', text))
    return found, plurals


def test_every_word_has_its_korean(monkeypatch):
    monkeypatch.setenv("LANGUAGE", "ko")
    i18n.catalogue.cache_clear()
    ids, plurals = message_ids()
    assert len(ids) > 40 and len(plurals) == 3
    assert sorted(m for m in ids if i18n._(m) == m) == []
    assert sorted(p for p in plurals if i18n.ngettext(*p, 2) == p[1]) == []
    # the placeholders survive translation
    for message, korean in [(m, i18n._(m)) for m in ids] + [(p[1], i18n.ngettext(*p, 2)) for p in plurals]:
        assert sorted(re.findall(r"\{[^}]*\}", korean)) == sorted(re.findall(r"\{[^}]*\}", message)), message


def test_korean_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("LANGUAGE")
    monkeypatch.setenv("LANG", "ko_KR.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    i18n.catalogue.cache_clear()
    shown = render.header(Message(id=3, sender="kim", text="x", edited=True, replies=2), "lee").plain
    assert "(수정됨)" in shown and "답장 2개" in shown
    assert (
        i18n.ngettext("{names} is typing…", "{names} are typing…", 2).format(names="kim, lee")
        == "kim, lee님이 입력 중…"
    )
    assert (
        error_text({"type": "error", "code": "too_late", "detail": "edit window"})
        == "메시지를 고칠 수 있는 시간이 지났습니다"
    )
    assert error_text({"type": "error", "code": "new_code", "detail": "English"}) == "new_code: English"
    said = Cli(home=tmp_path, language="ko")("send", "lobby", "hi")
    assert said.returncode == 1 and "로그인하지 않았습니다" in said.stderr
