"""Pure: where a query matched in a message's text, as ``[start, end)`` code point offsets."""

from __future__ import annotations

from .query import Query
from .tokens import tokenize


def highlights(text: str, query: Query) -> list[list[int]]:
    """Every part of ``text`` a word or phrase of ``query`` matched (its terms in sequence, the last
    as a prefix where the query says so), merged where they overlap, in order. Computed on the text
    with the tokenizer the index uses, so a highlight is exactly what was found."""
    tokens = tokenize(text)
    lexemes = [t.lexeme for t in tokens]
    spans: list[tuple[int, int]] = []
    for term in query.positive:
        n = len(term.lexemes)
        head, last = term.lexemes[:-1], term.lexemes[-1]
        for i in range(len(tokens) - n + 1):
            if tuple(lexemes[i : i + n - 1]) != head:
                continue
            found = lexemes[i + n - 1]
            if found == last or (term.prefix and found.startswith(last)):
                spans.append((tokens[i].start, tokens[i + n - 1].end))
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged
