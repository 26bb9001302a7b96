"""Fixtures: the lifecycle suite runs once per B2B-style shipped playbook (default b2b and the six-stage funnel)
and once per store (SQLite, PostgreSQL).

``db`` is overridden here for speed: the store is migrated once per session (a SQLite template file copied per
test; one PostgreSQL schema emptied before each test) instead of migrating for every test. Tests
still commit for real and see an empty store.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from lifecycle_helpers import make_runtime
from sqlalchemy import text

from funnelbridge.playbook import load_example
from funnelbridge.playbook.schema import Playbook
from funnelbridge.runtime import Runtime
from funnelbridge.store import Database, connect
from funnelbridge.store.migrate import upgrade
from funnelbridge.store.tables import metadata

PG_URL = os.environ.get("FUNNELBRIDGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")  # as tests/conftest.py


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lifecycle") / "template.db"
    db = connect(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()  # closing the last connection checkpoints the WAL into the file
    assert not path.with_name("template.db-wal").exists()
    return path


@pytest.fixture(scope="session")
def _pg_session() -> Iterator[Database]:
    schema = f"t_lc_{uuid.uuid4().hex[:10]}"
    admin = connect(PG_URL)
    with admin.engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = connect(PG_URL, schema=schema)
    upgrade(db)
    yield db
    db.dispose()
    with admin.engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _empty(db: Database) -> None:
    """DELETE is much faster than TRUNCATE on tiny tables (no new relation files)."""
    with db.engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path, _sqlite_template: Path) -> Iterator[Database]:
    """A migrated, empty store — once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        shutil.copy(_sqlite_template, path)
        store = connect(f"sqlite:///{path}")
        yield store
        store.dispose()
        return
    shared: Database = request.getfixturevalue("_pg_session")
    _empty(shared)
    yield shared


@pytest.fixture(params=["b2b", "six_stage"])
def playbook(request: pytest.FixtureRequest) -> Playbook:
    return load_example(request.param)


@pytest.fixture
def rt(db: Database, playbook: Playbook) -> Runtime:
    return make_runtime(db, playbook)
