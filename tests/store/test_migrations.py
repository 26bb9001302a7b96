from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from funnelbridge.errors import StoreError
from funnelbridge.store import Database, connect
from funnelbridge.store.migrate import current_revision, downgrade, head_revision, require_current, upgrade
from funnelbridge.store.tables import metadata


def test_upgrade_then_downgrade_round_trips(db: Database) -> None:
    assert current_revision(db) == head_revision(db)
    assert set(metadata.tables) <= set(db.table_names())
    downgrade(db)
    assert current_revision(db) is None
    assert db.table_names() == ["alembic_version"]
    upgrade(db)
    assert current_revision(db) == head_revision(db)


def test_migrations_match_the_tables(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def test_unmigrated_store_is_refused_with_the_fix(tmp_path: object) -> None:
    empty = connect(f"sqlite:///{tmp_path}/empty.db")
    with pytest.raises(StoreError, match="funnelbridge db upgrade"):
        require_current(empty)


def test_sqlite_runs_in_wal_mode(sqlite_db: Database) -> None:
    with sqlite_db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
