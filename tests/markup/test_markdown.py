"""markup.render: the Markdown that renders (markup/markdown.py's docstring, docs/protocol.md's
"Markdown: what renders"), what never does, and the fast path for text without Markdown."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from markup import markdown, render
from tests.xss.safety import assert_safe, problems

pytestmark = pytest.mark.embedded_only  # no backend: the same on both

REL = 'target="_blank" rel="noopener noreferrer nofollow ugc"'


class _Elements(HTMLParser):
    """Every element (tag, attributes) and the text inside each ``<code>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.codes: list[str] = []
        self._in_code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag == "code":
            self._in_code += 1
            self.codes.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "code":
            self._in_code -= 1

    def handle_data(self, data: str) -> None:
        if self._in_code:
            self.codes[-1] += data


def parsed(text: str) -> _Elements:
    found = _Elements()
    found.feed(text)
    found.close()
    return found


def tags(out: str) -> list[str]:
    return [tag for tag, _ in parsed(out).elements]


# --- CommonMark and GitHub's additions ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("*em* **strong** `code`", "<p><em>em</em> <strong>strong</strong> <code>code</code></p>\n"),
        ("~~gone~~", "<p><s>gone</s></p>\n"),
        ("# 제목", "<h1>제목</h1>\n"),
        ("### h3", "<h3>h3</h3>\n"),
        ("> 인용", "<blockquote>\n<p>인용</p>\n</blockquote>\n"),
        ("- a\n- b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n"),
        ("3. c\n4. d", '<ol start="3">\n<li>c</li>\n<li>d</li>\n</ol>\n'),
        ("---", "<hr>\n"),
        ("첫 줄\n둘째 줄", "<p>첫 줄<br>\n둘째 줄</p>\n"),  # a line break is a line break, as in every chat
        ("\\*not em\\*", "<p>*not em*</p>\n"),
        ("&copy; &amp; &#60;", "<p>© &amp; &lt;</p>\n"),
        ("a ~single~ tilde", "<p>a ~single~ tilde</p>\n"),
    ],
)
def test_commonmark_and_strikethrough(text, expected):
    assert render(text) == expected


def test_a_table_aligns_with_classes_never_a_style():
    out = render("| 이름 | 점수 | 비고 |\n|:---|---:|:---:|\n| kim | 90 | ok |")
    assert "style" not in out
    cells = [(tag, attrs.get("class")) for tag, attrs in parsed(out).elements if tag in ("th", "td")]
    assert cells == [
        ("th", "align-left"),
        ("th", "align-right"),
        ("th", "align-center"),
        ("td", "align-left"),
        ("td", "align-right"),
        ("td", "align-center"),
    ]
    assert "<table>" in out and "<thead>" in out and "<tbody>" in out
    plain = render("| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<th>a</th>" in plain and "<td>2</td>" in plain and "class" not in plain


@pytest.mark.parametrize(
    ("text", "href"),
    [
        ("see https://docs.djangoproject.com/en/5.2/", "https://docs.djangoproject.com/en/5.2/"),
        ("see http://example.com/a_(b).", "http://example.com/a_(b)"),
        ("see www.example.com", "http://www.example.com"),
        ("see WWW.EXAMPLE.COM", "http://WWW.EXAMPLE.COM"),
        ("mail kim@example.com", "mailto:kim@example.com"),
        ("<https://example.com/x>", "https://example.com/x"),
        ("[문서](https://example.com/d)", "https://example.com/d"),
        ("[write](mailto:kim@example.com)", "mailto:kim@example.com"),
        ("[x][1]\n\n[1]: https://example.com/r", "https://example.com/r"),
    ],
)
def test_links_open_in_a_new_tab_with_rel(text, href):
    out = render(text)
    links = [attrs for tag, attrs in parsed(out).elements if tag == "a"]
    assert links == [{"href": href, "target": "_blank", "rel": "noopener noreferrer nofollow ugc"}], out


@pytest.mark.parametrize("text", ["views.py", "see models.py and urls.py", "file.tar.gz", "README.md", "v1.2.3"])
def test_a_file_name_is_no_link(text):
    assert "<a" not in render(text)
    assert "<a" not in render(text + " @kim")  # with the linker on (an "@" might be an address)


@pytest.mark.parametrize("scheme", ["javascript", "JaVaScRiPt", "data", "vbscript", "file", "livescript", "ftp"])
@pytest.mark.parametrize(
    "form",
    [
        "[x]({url})",
        "<{url}>",
        "![x]({url})",
        "[x][r]\n\n[r]: {url}",
        "[x](<{url}>)",
        "{url}",
    ],
)
def test_only_http_https_and_mailto_link(scheme, form):
    url = f"{scheme}:alert(1)" if scheme != "file" else "file:///etc/passwd"
    out = render(form.format(url=url))
    assert "<a" not in out and "href" not in out, out
    assert_safe(out)


def test_an_image_is_a_link_named_by_its_alt_never_embedded():
    assert render("![스크린샷](https://example.com/a.png)") == (
        f'<p><a href="https://example.com/a.png" {REL}>스크린샷</a></p>\n'
    )
    # No alt: named by its URL. A title is dropped. An image inside a link stays a link's text.
    assert render("![](https://example.com/a.png)") == (
        f'<p><a href="https://example.com/a.png" {REL}>https://example.com/a.png</a></p>\n'
    )
    assert render('![a](https://example.com/a.png "t")') == (
        f'<p><a href="https://example.com/a.png" {REL}>a</a></p>\n'
    )
    for text in ["![a](https://example.com/a.png)", "[![a](https://x.example/a.png)](https://y.example/)"]:
        assert "<img" not in render(text)
    assert "<img" not in render("![x][i]\n\n[i]: https://example.com/a.png")


def test_raw_html_is_text():
    assert render("<b>굵게</b>") == "<p>&lt;b&gt;굵게&lt;/b&gt;</p>\n"
    assert render("<script>alert(1)</script>") == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
    assert render("<div>\n<img src=x onerror=alert(1)>\n</div>") == (
        "<p>&lt;div&gt;<br>\n&lt;img src=x onerror=alert(1)&gt;<br>\n&lt;/div&gt;</p>\n"
    )
    assert render("<!-- x -->") == "<p>&lt;!-- x --&gt;</p>\n"


def test_no_attribute_but_the_allowed_ones():
    """href (a, with target and rel), start (ol), class (span, code, th, td): ammonia's defaults
    would keep title and lang on every element."""
    out = render('[x](https://example.com "a title")\n\n5. five\n\n```python\nx\n```\n\n| a |\n|:-:|\n| b |')
    allowed = {"a": {"href", "target", "rel"}, "ol": {"start"}, "span": {"class"}, "code": {"class"}}
    allowed |= {"th": {"class"}, "td": {"class"}}
    for tag, attrs in parsed(out).elements:
        assert set(attrs) <= allowed.get(tag, set()), (tag, attrs)
    assert "title" not in out


# --- Code -----------------------------------------------------------------------------------------

PYTHON = 'def f(x):\n\tif x:\n\t\treturn  "<b>"\n\n\n    # four spaces\n  return None   \n'


@pytest.mark.parametrize(
    ("lang", "code", "a_class"),
    [
        ("python", PYTHON, "k"),
        ("py", "import os\nprint(os.sep)\n", "kn"),
        ("js", "const x = 1;\n", "kd"),
        ("javascript", "let s = '<img src=x onerror=alert(1)>';\n", "s1"),
        ("sql", "SELECT * FROM chat_message;\n", "k"),
        ("bash", 'echo "$HOME"\n', "nb"),
        ("html", "<script>alert(1)</script>\n", "nt"),
        ("diff", "- old\n+ new\n", "gd"),
        ("pytb", 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: <b>\n', "gt"),
    ],
)
def test_fenced_code_with_a_language_is_highlighted_with_classes_only(lang, code, a_class):
    out = render(f"```{lang}\n{code}```")
    assert out.startswith(f'<pre><code class="language-{lang}">'), out
    assert "style" not in out
    found = parsed(out)
    assert found.codes == [code]  # every character, every tab, space and blank line kept
    spans = [attrs.get("class") for tag, attrs in found.elements if tag == "span"]
    assert spans and all(c in markdown.CODE_CLASSES for c in spans), spans
    assert a_class in spans
    assert_safe(out)


@pytest.mark.parametrize("fence", ["```", "~~~", "````"])
@pytest.mark.parametrize("lang", ["", "nosuchlanguage", '"><b>'])
def test_code_without_a_known_language_is_plain_escaped_code(fence, lang):
    out = render(f"{fence}{lang}\n{PYTHON}{fence}")
    assert out == f"<pre><code>{html.escape(PYTHON, quote=False)}</code></pre>\n"


def test_code_keeps_its_white_space():
    assert parsed(render("    indented\n      deeper\n\n    after a blank")).codes == [
        "indented\n  deeper\n\nafter a blank\n"
    ]
    assert parsed(render("```\n\n  lead\n\ttab\n\n```")).codes == ["\n  lead\n\ttab\n\n"]
    assert render("`a  <b>  c`") == "<p><code>a  &lt;b&gt;  c</code></p>\n"
    # A long block is not highlighted (Pygments costs about a millisecond a kilobyte): plain code.
    long = "x = 1\n" * (markdown.HIGHLIGHT_MAX_CHARS // 6 + 1)
    assert render(f"```python\n{long}```") == f'<pre><code class="language-python">{long}</code></pre>\n'


# --- Mentions -------------------------------------------------------------------------------------


def test_mentions_of_names_the_message_mentions():
    out = render("@lee 안녕, @Kim! @park 님", mentions=["lee", "kim"])
    assert out == ('<p><span class="mention">@lee</span> 안녕, <span class="mention">@Kim</span>! @park 님</p>\n')
    assert render("@lee", mentions=[]) == "<p>@lee</p>\n"
    assert render("hi @lee.", mentions=["lee"]) == '<p>hi <span class="mention">@lee</span>.</p>\n'
    assert render("@이순신 회의", mentions=["이순신"]) == '<p><span class="mention">@이순신</span> 회의</p>\n'


def test_no_mention_inside_code_or_an_address_or_a_longer_name():
    text = "`@lee` kim@lee.example @leeds\n```\n@lee\n```"
    out = render(text, mentions=["lee"])
    assert "mention" not in out, out
    block = render("```python\n# @lee\n```", mentions=["lee"])
    assert "mention" not in block
    assert render("**@lee**", mentions=["lee"]) == '<p><strong><span class="mention">@lee</span></strong></p>\n'


# --- The fast path --------------------------------------------------------------------------------

CHAT_LINES = [
    "안녕하세요",
    "오늘 과제 언제까지예요?",
    "네 알겠습니다 ㅎㅎ",
    "감사합니다!",
    "좋아요~ 내일 봬요",
    "시간: 오후 3시, 장소: 301호",
    "2024.12.06 회의록 올렸어요",
    "C# 말고 파이썬으로 해요",
    "a -> b 순서예요",
    "Hello, how are you?",
    "I'll be there in 5 minutes.",
    "It's 100% done (finally)",
    "Is the deadline Friday or Monday?",
    "ok 👍",
    "🎉🎉🎉",
    "ㅋㅋㅋㅋㅋ",
    "x = y + 1 이면 되나요?",
    "Django 5.2 version",
    "감사합니다 🙏 정말로!",
    "중간에\u00a0no-break space",
]


@pytest.mark.parametrize("line", CHAT_LINES)
def test_common_chat_lines_take_the_fast_path(line):
    assert markdown._SIGNIFICANT.search(line) is None, line
    expected = "<p>" + html.escape(line, quote=False).replace("\u00a0", "&nbsp;") + "</p>\n"
    assert render(line) == expected == markdown.parse(line)


# Text that looks like Markdown more often than hypothesis' text() does by itself.
MARKDOWNISH = st.lists(
    st.one_of(
        st.sampled_from(
            [
                *["*", "**", "_", "`", "```", "~~", "~", "[", "]", "(", ")", "<", ">", "!", "#", "|", "-", "+", "="],
                *["\n", "\n\n", "  ", "\t", " ", "&", "&amp;", "&#60;", ";", ":", "\\", "@", "@lee", "1.", "2)"],
                *["http://", "https://x.com", "www.", "WWW.", "Www.x.org", "a@b.co", "mailto:", "x.com", "views.py"],
                *["javascript:", "data:", "\u00a0", "\u3000", "\u2028", "\x0b", "\x0c", "\x85", "\ufeff", "    "],
                *["가", "나다", "😀", "é", "e\u0301", "ß", "İ", "\x00", "\r", "\r\n", "python", "a", "1", "\u200b"],
            ]
        ),
        st.characters(blacklist_categories=("Cs",)),
    ),
    max_size=24,
).map("".join)
ANY_TEXT = st.one_of(st.text(), MARKDOWNISH)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANY_TEXT)
def test_render_is_the_parser_s_html_for_any_text(text):
    """The fast path (no Markdown syntax: no parser) and the parser without its linker (nothing to
    link) give exactly the HTML of the whole parser and sanitizer."""
    expected = markdown.parse(text, linkify=True) if text else ""
    assert render(text) == expected
    assert render(text, mentions=["lee"]) == (markdown.parse(text, mentions=["lee"]) if text else "")


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANY_TEXT, st.lists(st.sampled_from(["lee", "a", "x", "가", "<b>", '"', "&amp;"]), max_size=3))
def test_any_text_renders_safe_html(text, mentions):
    out = render(text, mentions=mentions)
    assert not problems(out), (text, out)
    allowed = "|".join(markdown.TAGS)
    assert not re.search(rf"<(?!/?(?:{allowed})\b)", out), out  # only the allowlist's tags


def test_a_text_too_long_to_parse_is_plain_text(settings):
    """Past PARLEY_MARKDOWN_MAX_CHARS the parser is not run (its worst inputs cost ~16 ms per
    1,000 characters): the text as it is, escaped, lines kept."""
    settings.PARLEY_MARKDOWN_MAX_CHARS = 50
    short = "**bold** [x](https://example.org)"
    assert "<strong>bold</strong>" in render(short)
    long = "**bold** <b>" + "[" * 60 + "\nsecond line"
    assert render(long) == "<p>**bold** &lt;b&gt;" + "[" * 60 + "<br>\nsecond line</p>\n"
    assert not problems(render(long))


async def test_long_texts_are_rendered_off_the_event_loop():
    """render_async gives what render gives; a long one is rendered on the render thread."""
    import threading

    seen: list[str] = []
    real = markdown.render

    def spy(text, **kwargs):
        seen.append(threading.current_thread().name)
        return real(text, **kwargs)

    markdown.render = spy  # type: ignore[assignment]
    try:
        short, long = "*a*", "*a* " * (markdown.INLINE_RENDER_CHARS // 4 + 1)
        assert await markdown.render_async(short) == real(short)
        assert await markdown.render_async(long, mentions=["a"]) == real(long, mentions=["a"])
    finally:
        markdown.render = real  # type: ignore[assignment]
    assert seen[0] == threading.current_thread().name and seen[1].startswith("parley-render")
