"""Whether a piece of HTML (a message's ``html``) could run script or reach outside: parsed with a
real HTML parser (the standard library's ``html.parser``, which decodes character references in
attribute values as a browser does), not matched with regular expressions.

Refused: an element that runs, embeds or styles anything (``script``, ``iframe``, ``style``,
``object``, ``embed``, ``svg``, ``math``, ``img``, ``form``, ``input`` and their relatives), any
``on*`` attribute, ``style``, ``srcdoc``, ``formaction``, and a URL attribute (``href``, ``src``...)
whose scheme is anything but http, https or mailto once character references are decoded and every
white space and control character is gone (a browser drops them: ``java&#9;script:`` is
``javascript:``). A URL without a scheme is relative: it stays on the site and runs nothing.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

FORBIDDEN_TAGS = frozenset(
    {"script", "iframe", "style", "object", "embed", "svg", "math", "img", "form", "input"}
    | {"frame", "frameset", "applet", "base", "link", "meta", "template", "noscript", "xml", "xss"}
    | {"video", "audio", "source", "track", "picture", "canvas", "portal", "button", "textarea", "select"}
    | {"option", "isindex", "keygen", "bgsound", "layer", "ilayer", "marquee", "body", "html", "head"}
)
FORBIDDEN_ATTRIBUTES = frozenset({"style", "srcdoc", "formaction"})
URL_ATTRIBUTES = frozenset(
    {"href", "src", "action", "data", "background", "dynsrc", "lowsrc", "poster", "codebase", "cite"}
    | {"xlink:href", "manifest", "icon", "ping", "longdesc", "usemap", "profile", "classid", "archive"}
)
SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):")


def url_scheme(value: str) -> str | None:
    """The scheme a browser would see in ``value`` (already decoded), lower case; None: relative."""
    squeezed = "".join(ch for ch in value if ch > " " and not (0x7F <= ord(ch) <= 0x9F) and not ch.isspace())
    # Anything before a "/", "?" or "#" that ends in ":" is a scheme; a ":" after them is a path's.
    found = _SCHEME.match(squeezed.lower())
    if found:
        return found.group(1)
    head = re.split(r"[/?#]", squeezed, maxsplit=1)[0]
    return head.lower() if ":" in head else None  # "j@v@:x" is no scheme a browser runs, but say so


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in FORBIDDEN_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            name = name.lower()
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>: an event handler")
            elif name in FORBIDDEN_ATTRIBUTES:
                self.problems.append(f"<{tag} {name}=...>")
            elif name in URL_ATTRIBUTES and value is not None:
                scheme = url_scheme(value)
                if scheme is not None and scheme not in SCHEMES:
                    self.problems.append(f"<{tag} {name}={value!r}>: scheme {scheme!r}")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_pi(self, data: str) -> None:
        self.problems.append(f"a processing instruction <?{data}>")

    def unknown_decl(self, data: str) -> None:
        self.problems.append(f"a declaration <![{data}]>")


def problems(html: str) -> list[str]:
    """What in ``html`` could run script or load something; [] when nothing."""
    checker = _Checker()
    checker.feed(html)
    checker.close()
    return checker.problems


def assert_safe(html: str, source: object = None) -> None:
    found = problems(html)
    assert not found, f"{found} in {html!r}" + (f" (from {source!r})" if source is not None else "")
