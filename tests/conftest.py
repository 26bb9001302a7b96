"""Shared fixtures: a migrated store on SQLite and on PostgreSQL (each test gets its own schema)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import settings
from sqlalchemy import text

from funnelbridge.store import Database, connect
from funnelbridge.store.migrate import upgrade

# CI (`.ci/run` sets FUNNELBRIDGE_HYPOTHESIS=ci) runs the property tests with a fixed seed so that a verdict on
# main is reproducible; locally each run explores new examples (and a failure is replayed from .hypothesis/).
# No per-example deadline in either: speed is measured in bench/, and on a loaded 2-core machine a pure function's
# example can pass 200 ms (a GC pause, a neighbour's benchmark) and fail a correct test.
settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None)
settings.register_profile("local", deadline=None)
settings.load_profile(os.environ.get("FUNNELBRIDGE_HYPOTHESIS", "local"))

PG_URL = os.environ.get("FUNNELBRIDGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def sqlite_db(tmp_path: object) -> Iterator[Database]:
    db = connect(f"sqlite:///{tmp_path}/store.db")
    upgrade(db)
    yield db
    db.dispose()


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = connect(PG_URL)
    with admin.engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield schema
    with admin.engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def pg_db(pg_schema: str) -> Iterator[Database]:
    db = connect(PG_URL, schema=pg_schema)
    upgrade(db)
    yield db
    db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Database:
    """A migrated, empty store — once on SQLite, once on PostgreSQL."""
    name = "sqlite_db" if request.param == "sqlite" else "pg_db"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]
