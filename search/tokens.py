"""Pure: text to search terms, the same for what is indexed and what is asked (docs/search.md).

A term (``Token``) is a lexeme and the ``[start, end)`` code point offsets of the text it came from:

- Words of space-separated scripts (letters and digits, with their combining marks): case-folded,
  accents stripped (NFKD, combining marks dropped, NFC), so ``Café`` and ``cafe`` are one lexeme.
  ``_`` and punctuation separate words: ``deploy_prod.sh`` is ``deploy``, ``prod``, ``sh``.
- Runs of Korean, Japanese and Chinese characters: their overlapping character pairs (``오늘숙제는``:
  ``오늘``, ``늘숙``, ``숙제``, ``제는``), as Lucene's CJK bigram analyzer does, so a query of two or
  more characters matches anywhere inside a longer word (its pairs, in sequence). A run of one
  character is that character alone.

Terms are numbered in order: the index keeps positions, so a phrase (and a CJK query's pairs) must
match terms in sequence. The index (``index``), the queries (``query``) and the highlights
(``highlights``) all go through ``tokenize``: they cannot disagree.
"""

from __future__ import annotations

import dataclasses
import itertools
import unicodedata

import regex

# Hangul (jamo, compatibility jamo, syllables), kana (and the kana marks), CJK ideographs (and their
# extensions and compatibility forms), half-width katakana.
_CJK = (
    r"\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f"
    r"\uac00-\ud7af\ud7b0-\ud7ff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f"
)
_TERM = regex.compile(
    rf"(?P<cjk>[{_CJK}](?:[{_CJK}]|\p{{M}})*)|(?P<word>[[\p{{L}}\p{{N}}]--[{_CJK}]](?:[[\p{{L}}\p{{N}}]--[{_CJK}]]|\p{{M}})*)",
    regex.V1,
)
_MARKS = regex.compile(r"[\p{Mn}--[\u3099\u309a]]", regex.V1)  # dropped from words (kana voicing marks kept)
_ASCII_OTHER = regex.compile(r"[\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]")  # what compatibility forms may bring
_CJK_MARK = regex.compile(r"\p{M}")

MAX_TERM = 64  # code points of a word kept (longer ones are cut, in the index and the query alike)


@dataclasses.dataclass(frozen=True, slots=True)
class Token:
    lexeme: str
    start: int  # code point offsets into the text
    end: int
    cjk: bool = False


def fold(word: str) -> str:
    """A word as the index keeps it: case-folded, accents stripped, compatibility forms unified."""
    if word.isascii():
        folded = word.lower()
    else:
        folded = unicodedata.normalize("NFC", _MARKS.sub("", unicodedata.normalize("NFKD", word))).casefold()
        if not folded.isalnum():
            folded = _ASCII_OTHER.sub("", folded)
    return folded[:MAX_TERM]


def _cjk_units(run: str, offset: int) -> list[tuple[str, int, int]]:
    """A CJK run's characters, each with the marks that follow it, NFKC-unified: (char, start, end)."""
    units: list[tuple[str, int, int]] = []
    for i, ch in enumerate(run):
        norm = unicodedata.normalize("NFKC", ch) if not "\uac00" <= ch <= "\ud7a3" else ch
        if _CJK_MARK.match(norm):  # a mark (or a half-width one): it belongs to the character before
            if units:
                base, start, _ = units[-1]
                composed = unicodedata.normalize("NFKC", base + norm)
                units[-1] = (composed if len(composed) == 1 else base, start, offset + i + 1)
            continue
        units.append((norm if len(norm) == 1 else ch, offset + i, offset + i + 1))
    return units


def tokenize(text: str) -> list[Token]:
    """The terms of ``text``, in order (see the module's docstring)."""
    found: list[Token] = []
    for match in _TERM.finditer(text):
        start = match.start()
        if match.lastgroup == "word":
            lexeme = fold(match.group())
            if lexeme:
                found.append(Token(lexeme, start, match.end()))
            continue
        units = _cjk_units(match.group(), start)
        if len(units) == 1:
            found.append(Token(units[0][0], units[0][1], units[0][2], cjk=True))
            continue
        for (a, a_start, _), (b, _, b_end) in itertools.pairwise(units):
            found.append(Token(a + b, a_start, b_end, cjk=True))
    return found


def lexemes(text: str) -> list[str]:
    return [t.lexeme for t in tokenize(text)]


# CJK characters that NFKC leaves as they are and that carry no marks: a run of only these is
# paired as it is (``index_lexemes``' fast path).
_PLAIN_CJK = regex.compile(r"[\uac00-\ud7a3\u4e00-\u9fff\u3400-\u4dbf\u3041-\u3096\u30a1-\u30fa]+")


def index_lexemes(text: str) -> list[str]:
    """``lexemes(text)``, faster: what the index stores needs no offsets (``tokenize`` makes a
    ``Token`` per term; a message's index row is built on the store path, in its transaction)."""
    found: list[str] = []
    for match in _TERM.finditer(text):
        run = match.group()
        if match.lastgroup == "word":
            lexeme = fold(run)
            if lexeme:
                found.append(lexeme)
        elif _PLAIN_CJK.fullmatch(run):
            if len(run) == 1:
                found.append(run)
            else:
                found.extend([run[i : i + 2] for i in range(len(run) - 1)])
        else:
            units = _cjk_units(run, 0)
            if len(units) == 1:
                found.append(units[0][0])
            else:
                found.extend([a[0] + b[0] for a, b in itertools.pairwise(units)])
    return found
