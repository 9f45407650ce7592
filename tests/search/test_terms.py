"""The pure parts of search: the tokenizer the index and the queries share, the parser, the
highlights, with properties checked by Hypothesis over arbitrary text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.protocol import ProtocolError
from search.highlights import highlights
from search.index import tsvector
from search.query import Term, parse, to_fts5, to_tsquery
from search.tokens import index_lexemes, lexemes, tokenize

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes


def test_words_are_folded_and_split_on_punctuation():
    assert lexemes("Café CAFE\u0301 Straße deploy_prod.sh ﬁle") == [
        "cafe",
        "cafe",
        "strasse",
        "deploy",
        "prod",
        "sh",
        "file",
    ]


def test_cjk_runs_are_pairs_and_a_lone_character_is_itself():
    assert lexemes("오늘숙제는") == ["오늘", "늘숙", "숙제", "제는"]
    assert lexemes("숙 Django숙제") == ["숙", "django", "숙제"]
    assert lexemes("東京都") == ["東京", "京都"]
    assert lexemes("ｶﾀｶﾅ") == lexemes("カタカナ")  # half-width kana are the full-width ones
    assert lexemes("か\u3099") == lexemes("が")  # a voicing mark stays on its kana


def test_queries():
    q = parse('Deploy "a phrase" -word from:Alice in:general has:file 숙제')
    assert q.terms == (
        Term(("deploy",)),
        Term(("a", "phrase")),
        Term(("word",), negated=True),
        Term(("숙제",)),
    )
    assert (q.senders, q.rooms, q.has) == (("alice",), ("general",), frozenset({"file"}))
    assert parse("deploy -x").terms[0].prefix  # the last word looked for
    assert not parse('"deploy"').terms[0].prefix  # a phrase is exact
    assert parse("숙").terms[0].prefix  # a lone CJK character: any pair starting with it
    assert to_tsquery(parse("a b_c -d")) == "'a' & ('b' <-> 'c':*) & !'d'"
    assert to_fts5(parse("a b_c -d")) == '(("a" AND "b c" *) NOT "d")'


@pytest.mark.parametrize("text", ["", " ", "from:a", "-a", "in:x has:link", "... !!", "a has:nothing", "x" * 501])
def test_bad_queries(text):
    with pytest.raises(ProtocolError) as refused:
        parse(text)
    assert refused.value.code == "invalid_frame"


def test_highlights_merge_and_count_code_points():
    text = "😀 오늘숙제는 deployment"
    spans = highlights(text, parse("숙제 deploy"))
    assert [text[a:b] for a, b in spans] == ["숙제", "deployment"]
    assert spans[0] == [4, 6]
    assert highlights("숙제숙제", parse("숙제")) == [[0, 4]]  # overlapping matches merge


def test_tsvector_positions():
    assert tsvector(lexemes("a b a")) == "'a':1,3 'b':2"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_tokens_cover_their_text(text):
    """Every term's offsets are inside the text, in order, and its text alone gives the term again."""
    last = 0
    for token in tokenize(text):
        assert last <= token.start < token.end <= len(text)
        last = token.start
        if not token.cjk:
            assert lexemes(text[token.start : token.end]) == [token.lexeme]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_parse_accepts_or_refuses_but_never_fails(text):
    try:
        query = parse(text)
    except ProtocolError as refused:
        assert refused.code == "invalid_frame"
        return
    assert query.positive
    assert to_tsquery(query) and to_fts5(query)


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=40).filter(lambda t: '"' not in t), st.text(max_size=20), st.text(max_size=20))
def test_a_phrase_of_a_message_highlights_itself(words, before, after):
    """A phrase taken from a message's text matches it there (the index and the highlights use one
    tokenizer), and every highlight lies inside the text."""
    try:
        query = parse(f'"{words}"')
    except ProtocolError:
        return  # no term in it
    text = f"{before} {words} {after}"
    spans = highlights(text, query)
    assert spans, text
    assert all(0 <= a < b <= len(text) for a, b in spans)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80) | st.text(alphabet="가나다숙제東京かが\u3099ｶﾞ a-Z_é\u0301😀", max_size=40))
def test_the_index_fast_path_agrees_with_the_tokenizer(text):
    assert index_lexemes(text) == lexemes(text)
