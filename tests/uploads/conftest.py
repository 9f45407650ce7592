"""A server with small upload limits on this run's backend, its media folder in the test's temp
folder, accounts made in bulk, and (for the S3 tests) moto's standalone S3 server on loopback."""

from __future__ import annotations

import http.client
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.servers import ServerFarm, free_port, scaled_configuration
from tests.uploads.kit import Accounts

MAX_BYTES = 64 * 1024  # PARLEY_UPLOAD_MAX_BYTES
QUOTA_BYTES = 256 * 1024  # PARLEY_UPLOAD_QUOTA_BYTES
PER_MINUTE = 20  # PARLEY_UPLOADS_PER_MINUTE
MAX_BODY_BYTES = 16 * 1024  # PARLEY_MAX_BODY_BYTES

LIMITS = {
    "PARLEY_UPLOAD_MAX_BYTES": str(MAX_BYTES),
    "PARLEY_UPLOAD_QUOTA_BYTES": str(QUOTA_BYTES),
    "PARLEY_UPLOADS_PER_MINUTE": str(PER_MINUTE),
    "PARLEY_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
    "PARLEY_RATE_PER_SEC": "0",  # messages: no per-connection budget in the way
}


@pytest.fixture(scope="package")
def media_farm(tmp_path_factory):
    """One database for the package's servers; files in ``media_farm.media``."""
    tmp = tmp_path_factory.mktemp("uploads")
    media = tmp / "media"
    farm = ServerFarm(tmp=tmp, scaled=scaled_configuration(), extra_env={"PARLEY_MEDIA_ROOT": str(media), **LIMITS})
    farm.media = media  # type: ignore[attr-defined]
    yield farm
    farm.close()


@pytest.fixture(scope="package")
def live(media_farm):
    """The server most tests talk to (the package's limits, files in ``media_farm.media``)."""
    return media_farm.start()


@pytest.fixture(scope="package")
def accounts(media_farm, live):
    return Accounts(media_farm)


@pytest.fixture
def room() -> str:
    return f"파일-{uuid.uuid4().hex[:8]}"


# --- moto's S3 server ------------------------------------------------------------------------------

S3_KEYS = {"aws_access_key_id": "parley-test-key", "aws_secret_access_key": "parley-test-secret"}
S3_REGION = "us-east-1"


class MotoServer:
    """moto's standalone S3 server (``moto_server``), a real HTTP endpoint on loopback."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / "moto.log"
        moto = Path(sys.executable).with_name("moto_server")
        command = [str(moto)] if moto.exists() else [sys.executable, "-m", "moto.server"]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [*command, "-H", "127.0.0.1", "-p", str(self.port)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto_server did not start:\n{self.log_path.read_text(errors='replace')}")
            time.sleep(0.1)

    def _answers(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/")
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    _client = None

    def client(self):
        """A boto3 client of the server (made once: making one loads boto's models, ~0.3 s)."""
        if self._client is None:
            import boto3

            self._client = boto3.client("s3", endpoint_url=self.endpoint, region_name=S3_REGION, **S3_KEYS)
        return self._client

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="package")
def moto(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()
