"""--compare's revisions: parsing, labels, and resolving them in this repository."""

import subprocess

import pytest

from bench.revisions import label, parse_revs, resolve
from bench.servers import ROOT


def test_parse_revs():
    assert parse_revs(None) == []
    assert parse_revs("975e6c0, 0681188,,975e6c0") == ["975e6c0", "0681188"]


def test_label_and_resolve():
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    assert resolve("HEAD") == head.stdout.strip()
    assert label(resolve("HEAD")) == f"parley@{head.stdout.strip()}"
    with pytest.raises(RuntimeError):
        resolve("no-such-revision-anywhere")
