"""Imports run down: ``parley`` (urls, asgi, settings, the edge) wires the apps together and no app
imports it; ``core`` (metrics, logs, client address, inputs) is under every app and imports none."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes

ROOT = Path(__file__).resolve().parents[2]
APPS = ["chat", "accounts", "api", "markup", "uploads", "search", "bots", "hooks", "terminal"]


def imported(package: str) -> set[tuple[str, str]]:
    """(file, top-level package) for every import in ``package``'s modules, at any depth of the code."""
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found.update((str(path.relative_to(ROOT)), name.split(".")[0]) for name in names)
    return found


@pytest.mark.parametrize("app", APPS)
def test_no_app_imports_the_wiring(app):
    assert not {(path, top) for path, top in imported(app) if top == "parley"}


def test_core_imports_no_app():
    assert not {(path, top) for path, top in imported("core") if top in {*APPS, "parley"}}
