"""Scenario T's texts and their mix (bench.corpus): exact proportions, deterministic, and texts that
render as the kind they claim to be once the load generator's tag is in front of them."""

import re
from collections import Counter

import pytest

from bench import corpus
from bench.stats import make_tag, parse_tag
from markup import markdown

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes


def test_parse_mix_and_label():
    assert corpus.parse_mix("70,15,10,5") == {"plain": 70.0, "inline": 15.0, "code": 10.0, "link": 5.0}
    assert corpus.mix_label(corpus.parse_mix("7, 1.5, 1, 0.5")) == "70/15/10/5"
    assert corpus.parse_mix("0,0,1,0")["code"] == 1.0
    for bad in ("70,15,10", "a,b,c,d", "70,-1,10,5", "0,0,0,0"):
        with pytest.raises(ValueError):
            corpus.parse_mix(bad)


@pytest.mark.parametrize(
    ("mix", "counts"),
    [
        ("70,15,10,5", {"plain": 70, "inline": 15, "code": 10, "link": 5}),
        ("1,1,1,0", {"plain": 34, "inline": 33, "code": 33, "link": 0}),
        ("2,1,0,0", {"plain": 67, "inline": 33, "code": 0, "link": 0}),
    ],
)
def test_schedule_deals_each_kind_its_share_of_the_slots(mix, counts):
    kinds = corpus.schedule(corpus.parse_mix(mix))
    assert len(kinds) == corpus.SLOTS
    assert {k: Counter(kinds)[k] for k in corpus.KINDS} == counts
    assert kinds == corpus.schedule(corpus.parse_mix(mix))  # the same order every run
    assert kinds != sorted(kinds)  # shuffled: code blocks do not come in a burst


def test_every_sender_gets_the_mix_over_any_slots_messages_and_kinds_sent_counts_them():
    plan = corpus.MarkdownPlan(corpus.parse_mix(corpus.DEFAULT_MIX))
    for sender in (0, 1, 49, 199):
        got = Counter(plan.kind(sender, n) for n in range(17, 17 + corpus.SLOTS))
        assert got == {"plain": 70, "inline": 15, "code": 10, "link": 5}
    assert plan.text(3, 5) == plan.text(3, 5)
    assert plan.text(3, 5) in corpus.TEXTS[plan.kind(3, 5)]
    assert [plan.kind(0, n) for n in range(10)] != [plan.kind(1, n) for n in range(10)]  # senders out of step
    sent = {0: 0, 1: 1, 2: 250, 7: 1003}
    brute = Counter(plan.kind(s, n) for s, count in sent.items() for n in range(count))
    assert plan.kinds_sent(sent) == brute
    assert sum(plan.kinds_sent(sent).values()) == sum(sent.values())


def test_texts_mention_no_one_start_no_fence_and_fit_a_message():
    for kind, texts in corpus.TEXTS.items():
        assert texts, kind
        assert len(set(texts)) == len(texts), kind
        for text in texts:
            assert "@" not in text
            assert not text.startswith("```")
            assert len(make_tag(999, 99999, 10**19) + " " + text) < 4000  # PARLEY_MAX_MESSAGE_CHARS
    for text in corpus.CODE:
        fence = re.search(r"\n```[a-z]*\n(.*)\n```$", text, re.S)
        assert fence is not None
        assert 10 <= fence.group(1).count("\n") + 1 <= 40
    assert any(ord(c) > 0xAC00 for c in "".join(corpus.PLAIN))  # Korean lines
    assert any(text.isascii() for text in corpus.PLAIN)  # English lines


def tagged(text: str) -> str:
    return make_tag(12, 345, 1_733_480_000_123_456_789) + " " + text


def test_the_tag_is_a_plain_line_and_keeps_each_text_its_kind():
    fast = markdown._SIGNIFICANT  # markup's own test for its fast path
    assert fast.search(make_tag(12, 345, 1_733_480_000_123_456_789, pad=40)) is None
    plain_fast = [t for t in corpus.PLAIN if fast.search(t) is None]
    assert len(plain_fast) >= 0.75 * len(corpus.PLAIN)  # most plain lines take the fast path...
    for text in plain_fast:
        assert fast.search(tagged(text)) is None  # ...with the tag in front of them too
        assert parse_tag(tagged(text))[:2] == (12, 345)
    for text in corpus.CODE:
        html = markdown.render(tagged(text))
        assert html.count("<pre><code") == 1, text[:40]
    for text in corpus.LINKS:
        assert '<a href="http' in markdown.render(tagged(text))
    for text in corpus.INLINE:
        html = markdown.render(tagged(text))
        assert any(tag in html for tag in ("<code>", "<strong>", "<em>", "<del>", "<s>", "<a ")), text
