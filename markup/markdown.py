"""A message's Markdown, rendered once on the server, sanitized, for every reader.

- **Parser**: markdown-it-py (CommonMark) with GitHub's tables and strikethrough, fenced code, and
  bare-URL autolinks as GitHub makes them (``http://``, ``https://``, ``www.``, e-mail addresses;
  not a bare ``file.py``); a line break is a line break (as in GitHub's comments and every chat).
  Raw HTML is off: ``<b>`` is text.
- **Code**: a fenced block with a language Pygments knows is highlighted with CSS classes only
  (``markup/static/markup/code.css``; no inline style, so the Content-Security-Policy stays
  ``style-src 'self'``); code keeps its white space.
- **Links** open in a new tab with ``rel="noopener noreferrer nofollow ugc"``; only ``http``,
  ``https`` and ``mailto`` URLs link. **Images** are never embedded (an outside image tracks its
  readers): ``![alt](url)`` is a link to the image, named by its alt text.
- **Mentions**: ``@name`` of a name the message mentions (``protocol.mention_candidates``, checked
  by the action) is ``<span class="mention">``.
- **Sanitizer**: nh3 (ammonia) with an allowlist of tags, attributes, classes and URL schemes, after
  the parser: what it lets through is what the page may show (the one ``innerHTML`` the room page
  has, ``static/chat/room/format.js``'s ``setSanitizedHtml``).
- **Fast path**: text with no character Markdown gives a meaning to (most chat lines) skips the
  parser: ``<p>`` and its escaped text, the same HTML the parser would give.
"""

from __future__ import annotations

import asyncio
import functools
import html
import re
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor

import nh3
from django.conf import settings
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

LINK_REL = "noopener noreferrer nofollow ugc"
# The only elements the HTML may hold (the sanitizer drops any other, keeping its text).
TAGS = frozenset(
    {"p", "br", "strong", "em", "s", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr", "span"}
    | {"table", "thead", "tbody", "tr", "th", "td", "h1", "h2", "h3", "h4", "h5", "h6"}
)
SCHEMES = frozenset({"http", "https", "mailto"})

# The longest code block that is highlighted; a longer one is shown as plain code (Pygments takes
# about a millisecond per kilobyte).
HIGHLIGHT_MAX_CHARS = 10_000

_FORMATTER = HtmlFormatter(nowrap=True)
# Pygments' short class names (k, s2, nf...): the only classes a <span> in code may have.
CODE_CLASSES = frozenset(c for c in STANDARD_TYPES.values() if c)


def _highlight(code: str, lang: str, attrs: str) -> str:
    """Called by the parser for a fenced block: its code highlighted (spans with classes), or ""
    to have the parser escape it as it is (no language, an unknown one, a very long block)."""
    if not lang or len(code) > HIGHLIGHT_MAX_CHARS:
        return ""
    try:
        lexer = get_lexer_by_name(lang.lower(), stripnl=False, ensurenl=False)
    except ClassNotFound:
        return ""
    return str(highlight(code, lexer, _FORMATTER))


def _valid_link(url: str) -> bool:
    scheme, colon, _ = url.partition(":")
    return bool(colon) and scheme.lower() in SCHEMES and "/" not in scheme


def _gfm_autolinks(state: object) -> None:
    """GitHub links a bare URL that starts with a scheme or ``www.``, and e-mail addresses; the
    linkify engine also links ``file.py`` (a country's TLD): such links are undone here."""
    for block in state.tokens:  # type: ignore[attr-defined]
        children = block.children
        if block.type != "inline" or not children:
            continue
        kept: list[Token] = []
        i = 0
        while i < len(children):
            token = children[i]
            if token.type == "link_open" and token.markup == "linkify" and i + 2 < len(children):
                text = children[i + 1].content
                if not (re.match(r"(?i)(https?://|www\.|mailto:)", text) or "@" in text):
                    kept.append(children[i + 1])  # the text, without its link
                    i += 3
                    continue
            kept.append(token)
            i += 1
        block.children = kept


def _link_open(self: RendererHTML, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    token = tokens[idx]
    token.attrSet("target", "_blank")
    token.attrSet("rel", LINK_REL)
    return self.renderToken(tokens, idx, options, env)


_ALIGN = re.compile(r"text-align:(left|center|right)")


def _cell_open(self: RendererHTML, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    """A table cell's alignment as a class (an inline style would break the CSP's style-src)."""
    token = tokens[idx]
    style = token.attrGet("style")
    if style is not None:
        token.attrs.pop("style", None)
        found = _ALIGN.search(str(style))
        if found:
            token.attrSet("class", f"align-{found.group(1)}")
    return self.renderToken(tokens, idx, options, env)


def _image(self: RendererHTML, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    """An image is a link to it, named by its alt text (or its URL): never embedded."""
    token = tokens[idx]
    src = token.attrGet("src") or ""
    alt = str(self.renderInlineAsText(token.children or [], options, env) or src)
    if not _valid_link(str(src)):
        return html.escape(alt)
    return f'<a href="{html.escape(str(src))}" target="_blank" rel="{LINK_REL}">{html.escape(alt)}</a>'


_MENTION = re.compile(r"(?<![\w@])@([^\s@<&]{1,150})")


def _text(self: RendererHTML, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    """Text, escaped, with the message's mentions marked (not in code, which has its own rule)."""
    return _mark_mentions(html.escape(tokens[idx].content, quote=False), env.get("mentions", ()))


def _mark_mentions(escaped: str, mentions: Collection[str]) -> str:
    if not mentions or "@" not in escaped:
        return escaped
    wanted = {m.casefold() for m in mentions}

    def mark(match: re.Match[str]) -> str:
        name = match.group(1)
        stripped = name.rstrip(",.;:!?)]}'\"\u201d\u2019\u2026")
        if stripped.casefold() not in wanted:
            return match.group(0)
        return f'<span class="mention">@{stripped}</span>{name[len(stripped) :]}'

    return _MENTION.sub(mark, escaped)


@functools.cache
def _parser(linkify: bool) -> MarkdownIt:
    """The parser; without ``linkify`` (a third of the parse) for text that has nothing to link."""
    options = {"html": False, "linkify": linkify, "breaks": True, "typographer": False, "highlight": _highlight}
    md = MarkdownIt("gfm-like", options)
    if not linkify:
        md.disable("linkify")
    md.validateLink = _valid_link  # type: ignore[method-assign]  # markdown-it-py documents this override
    md.core.ruler.push("gfm_autolinks", _gfm_autolinks)
    md.add_render_rule("link_open", _link_open)
    md.add_render_rule("th_open", _cell_open)
    md.add_render_rule("td_open", _cell_open)
    md.add_render_rule("image", _image)
    md.add_render_rule("text", _text)
    return md


@functools.cache
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(TAGS),
        # "*": none (ammonia's default lets ``title`` and ``lang`` onto every element).
        attributes={"*": set(), "a": {"href"}, "ol": {"start"}},
        allowed_classes={
            "span": {"mention", *CODE_CLASSES},
            "code": {f"language-{n}" for n in _LANGUAGES},
            "th": _ALIGNS,
            "td": _ALIGNS,
        },
        url_schemes=set(SCHEMES),
        link_rel=LINK_REL,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )


# Names a fenced block's language class may carry (Pygments' aliases).
def _aliases() -> frozenset[str]:
    from pygments.lexers import get_all_lexers

    return frozenset(alias for _name, aliases, _files, _types in get_all_lexers() for alias in aliases)


_LANGUAGES = _aliases()
_ALIGNS = {"align-left", "align-center", "align-right"}
# What a linkify could link: a scheme, "www.", an e-mail address.
_LINKABLE = re.compile(r"(?i)://|www\.|mailto:|@")

# What may give a text a Markdown meaning (or an autolink, an entity, an escape, a mention):
# anywhere, a character or pair that starts inline syntax ("~~", not a lone "~"), a URL's "://",
# "www." (any case: the linker's), a line break, a tab, a NUL (the parser makes it U+FFFD: no message
# holds one, but render takes any text); at the start, what starts a block (a heading, a quote, a
# list item, an indented block); white space at either end (a paragraph drops it). Tables, setext
# headings and hard breaks need a line break, so "|", "=" and two spaces alone mean nothing; nor
# do "!" without "[" or ":" without "//" (chat's most common punctuation after "." and ",").
_SIGNIFICANT = re.compile(r"[\\`*_\[\]<&@\n\r\t\0]|~~|://|(?i:www\.|mailto:)|^[#>]|^\s|^\d{1,9}[.)](?:\s|$)|^[-+]|\s$")
NBSP = "\u00a0"  # the sanitizer writes it as &nbsp;, and so does the fast path


def render(text: str, *, mentions: Collection[str] = ()) -> str:
    """The sanitized HTML of ``text`` (Markdown), its ``mentions`` marked; "" for no text. A text
    longer than ``PARLEY_MARKDOWN_MAX_CHARS`` is shown as it is, as plain text (``plain``)."""
    if not text:
        return ""
    if _SIGNIFICANT.search(text) is None:
        return f"<p>{html.escape(text, quote=False).replace(NBSP, '&nbsp;')}</p>\n"
    if len(text) > settings.PARLEY_MARKDOWN_MAX_CHARS:
        return plain(text)
    return parse(text, mentions=mentions, linkify=_LINKABLE.search(text) is not None)


def plain(text: str) -> str:
    """Text as it is, escaped, its lines kept: what a text too long to parse is shown as. The
    parser's worst inputs (runs of ``[``, ``![``, ``*_``) cost about 16 ms per 1,000 characters."""
    escaped = html.escape(text, quote=False).replace(NBSP, "&nbsp;")
    return "<p>" + "<br>\n".join(escaped.splitlines()) + "</p>\n"


async def render_async(text: str, *, mentions: Collection[str] = ()) -> str:
    """``render`` for the send path: a short text (most) on the event loop, a long one on the
    render thread, so the loop (every other connection of the process) is not held for the tens of
    milliseconds a long text can take; the thread gives the loop the GIL at least every 5 ms."""
    if len(text) <= INLINE_RENDER_CHARS:
        return render(text, mentions=mentions)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_RENDERER, functools.partial(render, text, mentions=mentions))


# Texts up to this long are rendered on the event loop (at worst ~15 ms, typically well under 1).
INLINE_RENDER_CHARS = 1000
_RENDERER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-render")


def parse(text: str, *, mentions: Collection[str] = (), linkify: bool = True) -> str:
    """``render``'s way for text with Markdown: the parser, then the sanitizer (``linkify`` off for
    text that has nothing to link: the same HTML, a third faster)."""
    rendered = _parser(linkify).render(text, {"mentions": mentions})
    # A fence whose language is not a Pygments name loses its class to the sanitizer: no class at
    # all then (text cannot hold this string: its "<" is escaped).
    return _cleaner().clean(rendered).replace('<code class="">', "<code>")
