"""API fixtures: a Runtime on a migrated store, the app, and one API key per role."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from funnelbridge.api import create_app
from funnelbridge.apikeys import ROLES, create_api_key
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.settings import Settings
from funnelbridge.store import Database

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def runtime(sqlite_db: Database) -> Runtime:
    return Runtime(db=sqlite_db, playbook=load_example("b2b"), clock=FrozenClock(NOW))


@pytest.fixture
def keys(runtime: Runtime) -> dict[str, str]:
    return {role: create_api_key(runtime.db, f"{role} key", role, NOW)[0] for role in ROLES}


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    settings = Settings(max_body_bytes=2048, ingest_rate=1.0, ingest_burst=3, secret_key="test")
    with TestClient(create_app(runtime, settings), raise_server_exceptions=False) as test_client:
        yield test_client
