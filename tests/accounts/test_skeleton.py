"""The confusable skeleton (accounts/skeleton.py): names that look alike share one, others do not."""

from __future__ import annotations

import pytest

from accounts.skeleton import skeleton, skeletons

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes

CYRILLIC_O = "\u043e"
COMBINING_ACUTE = "\u0301"

LOOK_ALIKES = {
    "cyrillic o": f"rt{CYRILLIC_O}wner",
    "fullwidth": "\uff52\uff54\uff4f\uff57\uff4e\uff45\uff52",
    "modifier letter r": "\u02b3towner",
    "combining acute": f"rto{COMBINING_ACUTE}wner",
    "precomposed accent": "rt\u00f3wner",
    "other case": "RtOwNeR",
    "digit zero for o": "rt0wner",
    "zero-width space": "rt\u200bowner",
    "small capital o": "rt\u1d0fwner",
    "mathematical bold": "\U0001d42b\U0001d42d\U0001d428\U0001d430\U0001d427\U0001d41e\U0001d42b",
    "cyrillic capitals": "RT\u041eWNER",
}


def clash(a: str, b: str) -> bool:
    return not skeletons(a).isdisjoint(skeletons(b))


@pytest.mark.parametrize("kind", LOOK_ALIKES)
def test_look_alikes_share_the_skeleton(kind):
    name = LOOK_ALIKES[kind]
    assert name != "rtowner"
    assert skeleton(name) == skeleton("rtowner")
    assert clash(name, "rtowner")


def test_capital_i_looks_like_small_l():
    assert clash("aIice", "alice")
    assert clash("Ian", "lan")
    assert clash("rn", "m")  # confusables.txt: m -> rn


@pytest.mark.parametrize(
    "a, b", [("alice", "alicia"), ("rtowner", "rtowners"), ("kim", "lee"), ("민준", "민수"), ("park ji", "parkji")]
)
def test_different_names_do_not_clash(a, b):
    assert not clash(a, b)


def test_korean_names_are_stable_and_distinct():
    assert skeleton("민준") == skeleton("민준")
    assert skeleton("자유게시판") != skeleton("자유게시")


def test_skeleton_is_idempotent_on_its_output():
    for name in [*LOOK_ALIKES.values(), "Alice", "민준"]:
        assert skeleton(skeleton(name)) == skeleton(name)
