"""Live servers and logged-in users for the terminal client's tests.

The client is run as a user runs it: ``python -m terminal`` in a subprocess with a config directory
of the test's own (XDG_CONFIG_HOME), or its Textual app under ``App.run_test()``.
"""

from __future__ import annotations

import asyncio
import os
import queue
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.api.client import request
from tests.servers import ROOT, ServerFarm, scaled_configuration


@pytest.fixture(autouse=True)
def _english(monkeypatch):
    """The client's words in English (the tests read them) unless a test asks for Korean."""
    from terminal import i18n

    monkeypatch.setenv("LANGUAGE", "en")
    i18n.catalogue.cache_clear()
    yield
    i18n.catalogue.cache_clear()


@pytest.fixture(scope="module")
def module_farm(tmp_path_factory):
    """Servers shared by the tests of one module (each test uses its own rooms and users)."""
    f = ServerFarm(tmp=tmp_path_factory.mktemp("farm"), scaled=scaled_configuration())
    yield f
    f.close()


@pytest.fixture(scope="module")
def live(module_farm):
    """A server without a message rate limit: the tests seed rooms with many messages at once."""
    return module_farm.start(PARLEY_RATE_PER_SEC="0")


@pytest.fixture
def room() -> str:
    return f"터미널-{uuid.uuid4().hex[:8]}"


@dataclass
class Cli:
    """``python -m terminal`` with a config directory of its own."""

    home: Path
    language: str = "en"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "PARLEY_CONFIG"}
        env.update({"XDG_CONFIG_HOME": str(self.home), "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"})
        env.update({"LANGUAGE": self.language})
        return env

    @property
    def config_file(self) -> Path:
        return self.home / "parley" / "config.json"

    def __call__(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "terminal", *args],
            cwd=ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def spawn(self, *args: str) -> Lines:
        process = subprocess.Popen(
            [sys.executable, "-m", "terminal", *args],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return Lines(process)


class Lines:
    """A running command's stdout, line by line, read on a thread (so a test waits with a timeout)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.errors = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.queue.put(line)
        self.queue.put(None)

    def take(self, count: int, within: float = 20.0) -> list[str]:
        got = []
        for _ in range(count):
            line = self.queue.get(timeout=within)
            assert line is not None, f"the command ended ({self.process.wait()}): {self.stderr()}"
            got.append(line)
        return got

    def stderr(self) -> str:
        """What the command said on stderr (once it has ended)."""
        if self.process.poll() is None or self.process.stderr is None or self.process.stderr.closed:
            return self.errors
        return self.process.stderr.read()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.errors = self.stderr()
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
        return self.process.returncode


@pytest.fixture
def cli(tmp_path) -> Cli:
    return Cli(home=tmp_path / "config")


def token_id(base: str, token: str) -> int:
    answer = request(base, "GET", "/api/v1/tokens", token=token)
    assert answer.status == 200, answer.text
    return int(answer.json["tokens"][0]["id"])


async def until(pilot: object, check: Callable[[], object], within: float = 15.0, what: str = "") -> None:
    """Let the app run until ``check()`` is true (a condition, not a time: fails after ``within`` s)."""
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"not within {within} s: {what or check}"
        await pilot.pause(0.05)  # type: ignore[attr-defined]
