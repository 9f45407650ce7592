"""Pure: a search box's text to a query (docs/search.md has the syntax).

``deploy "a phrase" -word from:alice in:general has:file has:link``: words and phrases must all be
there (a word that tokenizes to several terms, ``deploy_prod`` or ``오늘숙제``, is a phrase of them),
``-`` excludes, ``from:`` ``in:`` and ``has:`` filter. The last plain word matches as a prefix
(``deploy`` finds ``deployment``), as does a lone CJK character. A query with no word or phrase to
look for (empty, or operators only) or longer than ``MAX_CHARS`` is refused (invalid_frame).
"""

from __future__ import annotations

import dataclasses

import regex

from chat.protocol import ErrorCode, ProtocolError

from .tokens import tokenize

MAX_CHARS = 500
_PART = regex.compile(r'(-?)(?:"([^"]*)"?|(\S+))')
_OPERATOR = regex.compile(r"(?i)(from|in|has):(\S+)")
HAS = ("file", "link")


@dataclasses.dataclass(frozen=True, slots=True)
class Term:
    """Terms that must follow each other (one word, or a phrase); the last may be a prefix."""

    lexemes: tuple[str, ...]
    prefix: bool = False
    negated: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Query:
    terms: tuple[Term, ...]  # at least one not negated
    senders: tuple[str, ...] = ()  # from: (case-folded); several: any of them
    rooms: tuple[str, ...] = ()  # in: room names (or ``ns/room`` addresses); several: any of them
    has: frozenset[str] = frozenset()

    @property
    def positive(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if not t.negated)


def invalid(detail: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID_FRAME, detail)


def parse(text: str) -> Query:
    """The query ``text`` says; invalid_frame for an empty one, operators only, or one too long."""
    if len(text) > MAX_CHARS:
        raise invalid(f"a search query is at most {MAX_CHARS} characters")
    terms: list[Term] = []
    senders: list[str] = []
    rooms: list[str] = []
    has: set[str] = set()
    last_plain = -1  # the index in ``terms`` of the last plain (unquoted, not negated) word
    last_cjk = False  # whether that word ends in CJK (its pairs match inside words already: no prefix)
    for match in _PART.finditer(text):
        negated, quoted, plain = bool(match.group(1)), match.group(2), match.group(3)
        if plain is not None and not negated and (op := _OPERATOR.fullmatch(plain)):
            kind, value = op.group(1).lower(), op.group(2)
            if kind == "from":
                senders.append(value.removeprefix("@").casefold())
            elif kind == "in":
                rooms.append(value.removeprefix("#"))
            elif value.lower() in HAS:
                has.add(value.lower())
            else:
                raise invalid(f"has: takes {' or '.join(HAS)}, not {value!r}")
            continue
        tokens = tokenize(quoted if quoted is not None else plain or "")
        if not tokens:
            continue
        if plain is not None and not negated:
            last_plain, last_cjk = len(terms), tokens[-1].cjk
        lone_cjk = len(tokens) == 1 and tokens[0].cjk and len(tokens[0].lexeme) == 1
        terms.append(Term(tuple(t.lexeme for t in tokens), prefix=lone_cjk, negated=negated))
    if _only_negated_after(terms, last_plain) and not last_cjk:
        terms[last_plain] = dataclasses.replace(terms[last_plain], prefix=True)
    if not any(not t.negated for t in terms):
        raise invalid("a search query needs a word or a phrase to look for" if text.strip() else "empty query")
    return Query(terms=tuple(terms), senders=tuple(senders), rooms=tuple(rooms), has=frozenset(has))


def _only_negated_after(terms: list[Term], index: int) -> bool:
    """Whether the plain word at ``index`` is the last word looked for (only exclusions after it)."""
    return index >= 0 and all(t.negated for t in terms[index + 1 :])


def _quote_pg(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def to_tsquery(query: Query) -> str:
    """The query as PostgreSQL's ``tsquery`` text (cast with ``::tsquery``: no dictionary)."""
    parts = []
    for term in query.terms:
        words = [_quote_pg(x) for x in term.lexemes]
        if term.prefix:
            words[-1] += ":*"
        phrase = " <-> ".join(words)
        if len(words) > 1:
            phrase = f"({phrase})"
        parts.append(f"!{phrase}" if term.negated else phrase)
    return " & ".join(parts)


def to_fts5(query: Query) -> str:
    """The query as an SQLite FTS5 match expression."""

    def phrase(term: Term) -> str:
        text = '"' + " ".join(x.replace('"', '""') for x in term.lexemes) + '"'
        return text + " *" if term.prefix else text

    expr = "(" + " AND ".join(phrase(t) for t in query.positive) + ")"
    for term in query.terms:
        if term.negated:
            expr = f"({expr} NOT {phrase(term)})"
    return expr
