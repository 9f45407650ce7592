"""The XSS corpus through markup.render, and the safety check itself (that it catches what it must)."""

from __future__ import annotations

import pytest

from markup import markdown, render
from tests.xss.corpus import armed, payloads
from tests.xss.safety import problems

pytestmark = pytest.mark.embedded_only  # no backend: the same on both


def test_the_corpus_is_a_few_hundred_payloads():
    found = payloads()
    assert len(found) >= 300
    assert len(set(found)) == len(found)
    assert all(0 < len(p) <= 4000 and p.strip() for p in found)  # each a message a room takes


def test_no_payload_renders_anything_that_runs():
    for payload in payloads():
        for text in (payload, armed(payload)):
            for mentions in ((), ("admin", "x", "lee")):
                out = render(text, mentions=mentions)
                assert not problems(out), (text, out)
                assert "<a " not in out or 'rel="noopener noreferrer nofollow ugc"' in out


def test_only_the_allowlisted_tags_come_out():
    import re

    allowed = "|".join(sorted(markdown.TAGS))
    for payload in payloads():
        out = render(payload, mentions=("admin",))
        assert not re.search(rf"<(?!/?(?:{allowed})\b)", out), (payload, out)


@pytest.mark.parametrize(
    "html",
    [
        "<script>alert(1)</script>",
        "<SCRIPT>x</SCRIPT>",
        "<p><iframe src=https://x.example></iframe></p>",
        "<style>*{}</style>",
        "<object data=x>",
        "<embed src=x>",
        "<svg></svg>",
        "<math></math>",
        "<img src=https://x.example/a.png>",
        "<form></form>",
        "<input>",
        "<p onclick=alert(1)>x</p>",
        "<a href=https://x ONMOUSEOVER=x>x</a>",
        '<a href="javascript:alert(1)">x</a>',
        '<a href=" JAVASCRIPT:alert(1)">x</a>',
        '<a href="java&#x09;script:alert(1)">x</a>',
        '<a href="java&#10;script:alert(1)">x</a>',
        '<a href="&#106;avascript:alert(1)">x</a>',
        '<a href="javascript&colon;alert(1)">x</a>',
        '<a href="\x01javascript:alert(1)">x</a>',
        '<a href="data:text/html,x">x</a>',
        '<a href="vbscript:x">x</a>',
        '<a href="file:///etc/passwd">x</a>',
        '<span style="color:red">x</span>',
        "<iframe srcdoc=x>",
        "<button formaction=x>",
        '<p><a href="https://ok.example">ok</a><b onfocus=x>',
    ],
)
def test_the_safety_check_catches(html):
    assert problems(html), html


@pytest.mark.parametrize(
    "html",
    [
        '<p><a href="https://x.example/?q=javascript:alert(1)" target="_blank" rel="noopener">x</a></p>',
        '<a href="http://x.example">x</a><a href="mailto:kim@example.com">m</a>',
        '<a href="/rooms/x/">relative</a>',
        "<p>&lt;script&gt;alert(1)&lt;/script&gt; onclick=alert(1) javascript:alert(1)</p>",
        '<pre><code class="language-python"><span class="k">def</span></code></pre>',
    ],
)
def test_the_safety_check_lets_safe_html_be(html):
    assert problems(html) == []
