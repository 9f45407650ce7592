"""The config file holds a token: mode 600 (its directory 700) however it is written."""

from __future__ import annotations

import os
import stat

import pytest

from terminal import config

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes

SAMPLE = config.Config(server="https://chat.example.org", username="kim", token="parley_secret", token_id=3)


def test_written_600_under_any_umask_and_over_an_open_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("PARLEY_CONFIG", raising=False)
    path = config.config_path()
    assert path == tmp_path / "xdg" / "parley" / "config.json"
    old = os.umask(0)
    try:
        path.parent.mkdir(parents=True)
        path.write_text("{}")
        path.chmod(0o644)  # an older file anyone could read
        config.save(SAMPLE)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert config.load() == SAMPLE
    assert [p.name for p in path.parent.iterdir()] == ["config.json"]  # no temporary left behind
    assert config.remove() and not config.remove()
    with pytest.raises(config.ConfigError, match="parley login"):
        config.load()


def test_a_new_directory_is_700_and_PARLEY_CONFIG_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("PARLEY_CONFIG", str(tmp_path / "own" / "p.json"))
    saved = config.save(SAMPLE)
    assert saved == tmp_path / "own" / "p.json"
    assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    saved.write_text("not json")
    with pytest.raises(config.ConfigError, match="not a Parley config"):
        config.load()
