"""Other revisions of Parley beside the working tree (``--compare REV[,REV]``).

Each revision is checked out with ``git worktree add --detach /tmp/parley-<rev>-<pid> <rev>`` (the
working tree, its index and its branch are not touched; the bench's process id keeps two runs on one
machine out of each other's trees) and removed again after the run. Its server runs from
there with this venv, on a database of its own migrated by its own migrations: the same scenarios in
the same run, so "within 10 % of before" compares numbers taken minutes apart on the same machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from .servers import ROOT

WORKTREES = Path("/tmp")


def parse_revs(text: str | None) -> list[str]:
    """``--compare``'s revisions, in order, without blanks and repeats."""
    out: list[str] = []
    for rev in (text or "").split(","):
        rev = rev.strip()
        if rev and rev not in out:
            out.append(rev)
    return out


def label(short: str) -> str:
    """The target name (and table column) of a revision: ``parley@975e6c0``."""
    return f"parley@{short}"


def _git(*args: str) -> str:
    proc = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


def resolve(rev: str) -> str:
    """The short commit hash of ``rev`` (a hash, a tag, ``HEAD~1``...); RuntimeError if git does not know it."""
    return _git("rev-parse", "--short", f"{rev}^{{commit}}")


def _remove(path: Path) -> None:
    with contextlib.suppress(RuntimeError):
        _git("worktree", "remove", "--force", str(path))
    shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(RuntimeError):
        _git("worktree", "prune")


def checkout(revs: list[str]) -> dict[str, Path]:
    """Check out each revision in a worktree of its own: {label: tree}. On a failure, removes what it
    checked out and raises RuntimeError. ``remove_all`` removes them after the run."""
    trees: dict[str, Path] = {}
    try:
        for rev in revs:
            short = resolve(rev)
            if label(short) in trees:
                continue
            path = WORKTREES / f"parley-{short}-{os.getpid()}"
            _remove(path)  # left over by a run that was killed
            _git("worktree", "add", "--detach", "--quiet", str(path), short)
            trees[label(short)] = path
    except RuntimeError:
        remove_all(trees)
        raise
    return trees


def remove_all(trees: dict[str, Path]) -> None:
    for path in trees.values():
        _remove(path)
