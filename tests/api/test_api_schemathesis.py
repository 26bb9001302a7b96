"""Property-based API testing: schemathesis generates requests from the OpenAPI schema (valid and invalid ones)
and checks that no endpoint ever answers with a server error."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from funnelbridge.api import create_app
from funnelbridge.apikeys import create_api_key
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.settings import Settings
from funnelbridge.store import connect
from funnelbridge.store.migrate import upgrade

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def admin_and_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    db = connect(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'store.db'}")
    upgrade(db)
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW))
    key = create_api_key(db, "fuzzer", "admin", NOW)[0]
    return key, create_app(rt, Settings(secret_key="fuzz", ingest_rate=1e6, ingest_burst=10**6))


@pytest.fixture(scope="module")
def api_schema(admin_and_app: tuple[str, Any]) -> Any:
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", admin_and_app[1])


def test_no_server_errors(api_schema: Any, admin_and_app: tuple[str, Any]) -> None:
    # Schemathesis' own pytest plugin does not support pytest 9 yet, so each operation runs as a Hypothesis test.
    headers = {"Authorization": f"Bearer {admin_and_app[0]}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 30

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case: Any) -> None:
            # generous read timeout: this looks for server errors, not latency (a loaded CI box compiles reports slowly)
            case.call_and_validate(headers=headers, checks=[not_a_server_error], timeout=120)

        no_server_error()
