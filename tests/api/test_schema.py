"""A schema-driven test: schemathesis generates input for every operation of /api/v1/openapi.json
and sends it to a live server with a valid token. No answer may be a 5xx, and every answer must
match the schema (documented status, content type, body). Bounded: a few examples per operation."""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.client import new_user

# The schema is the same on every backend: fuzzed once (test-embedded), within make test's time.
pytestmark = pytest.mark.embedded_only

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 15  # per operation; the whole test stays well under a minute


@pytest.fixture(scope="module")
def fuzzed(module_farm):
    """A server without the write rate limit, so generated writes reach the routes' own checks."""
    return module_farm.start(PARLEY_RATE_PER_SEC="0")


def test_every_operation_with_generated_input(fuzzed):
    user = new_user(fuzzed.http)
    schema = schemathesis.openapi.from_url(fuzzed.http + "/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {user.token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    # Revoking may hit the test's own token (ids are generated): that operation goes last.
    operations.sort(key=lambda op: op.method.upper() == "DELETE" and op.path.startswith("/api/v1/tokens/"))
    assert len(operations) >= 11
    started = time.monotonic()
    seen: set[tuple[str, str, int]] = set()
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call(base_url=fuzzed.http, headers=headers)
            seen.add((case.method.upper(), case.operation.path, response.status_code))
            case.validate_response(response, checks=CHECKS)

        run()
    assert time.monotonic() - started < 60
    # The generated input got past authentication and into the routes: successes on every read.
    # (Generated writes mostly fail the routes' checks: invalid rooms, empty messages; test_routes covers them.)
    for path in ("/api/v1/me", "/api/v1/rooms", "/api/v1/tokens"):
        assert ("GET", path, 200) in seen, sorted(seen)
