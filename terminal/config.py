"""The client's config file: the server, the username and the API token that ``parley login`` made.

It lives in the user's config directory, ``$XDG_CONFIG_HOME/parley/config.json`` (``~/.config``
without XDG_CONFIG_HOME), or at ``$PARLEY_CONFIG`` when set. The file holds a secret, so it is
written with mode 600 (its directory 700) from the start, through a temporary file renamed over it:
another user never sees the token, and a crash mid-write never leaves half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from terminal.i18n import _


class ConfigError(Exception):
    """There is no usable config file (not logged in, or a file that is not ours)."""


@dataclass(frozen=True)
class Config:
    server: str  # the server's base URL, e.g. https://chat.example.org (no trailing slash)
    username: str
    token: str  # the API token's secret
    token_id: int  # its id, for revoking it at logout


def config_path() -> Path:
    """Where the config file is: $PARLEY_CONFIG, else the XDG config directory's parley/config.json."""
    explicit = os.environ.get("PARLEY_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "parley" / "config.json"


def save(config: Config, path: Path | None = None) -> Path:
    """Write ``config`` with mode 600 (replacing any older file atomically); returns the path."""
    path = path or config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask or an older file said
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(config), out, indent=2)
            out.write("\n")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return path


def load(path: Path | None = None) -> Config:
    """The saved config; ConfigError when there is none (say ``parley login`` first) or it is broken."""
    path = path or config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Config(
            server=str(data["server"]),
            username=str(data["username"]),
            token=str(data["token"]),
            token_id=int(data["token_id"]),
        )
    except FileNotFoundError:
        said = _("not logged in (no {path}): run `parley login <server-url>` first")
        raise ConfigError(said.format(path=path)) from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        said = _("{path} is not a Parley config file ({error}): log in again")
        raise ConfigError(said.format(path=path, error=error)) from None


def remove(path: Path | None = None) -> bool:
    """Delete the config file; False when there was none."""
    try:
        (path or config_path()).unlink()
    except FileNotFoundError:
        return False
    return True
