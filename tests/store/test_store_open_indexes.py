"""Opening a store recreates the secondary indexes it lacks (a bulk load killed while they were dropped)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect

from funnelbridge.bootstrap import init_project, open_runtime
from funnelbridge.settings import Settings
from funnelbridge.store import Database, connect
from funnelbridge.store.bulkload import bulk_lock, drop_indexes, missing_indexes, secondary_indexes
from funnelbridge.store.migrate import require_current, restore_missing_indexes
from funnelbridge.store.tables import events, metadata, transitions


def _indexes(db: Database) -> dict[str, dict[str, list[str | None] | bool]]:
    with db.read() as conn:
        found = inspect(conn)
        return {
            f"{t}.{ix['name']}": {"columns": list(ix["column_names"]), "unique": bool(ix["unique"])}
            for t in metadata.tables
            for ix in found.get_indexes(t)
        }


def test_a_complete_store_gets_no_ddl(db: Database) -> None:
    declared = {str(ix.name) for t in metadata.tables.values() for ix in secondary_indexes(t)}
    assert {name.split(".", 1)[1] for name in _indexes(db)} >= declared  # migrations make every declared index
    assert restore_missing_indexes(db) == []


def test_dropped_indexes_are_back_when_the_store_is_opened(db: Database) -> None:
    before = _indexes(db)
    with db.transaction() as conn:  # committed, as a bulk load's first chunk leaves them when it is killed
        dropped = drop_indexes(conn, events)
        next(ix for ix in transitions.indexes if ix.name == "ix_transitions_to_at").drop(conn)
    assert dropped and all(f"events.{name}" not in _indexes(db) for name in dropped)
    temp_store: list[int] = []

    def spy(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if db.dialect == "sqlite" and statement.lstrip().upper().startswith("CREATE INDEX"):
            temp_store.append(conn.connection.dbapi_connection.execute("PRAGMA temp_store").fetchone()[0])

    event.listen(db.engine, "before_cursor_execute", spy)
    require_current(db)  # what opening the store runs
    event.remove(db.engine, "before_cursor_execute", spy)
    assert _indexes(db) == before
    assert temp_store == ([1] * (len(dropped) + 1) if db.dialect == "sqlite" else [])  # sorted in temporary files
    assert restore_missing_indexes(db) == []


def test_open_runtime_repairs_a_killed_bulk_load(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'fb.db'}", playbook=str(tmp_path / "playbook.yaml"))
    init_project(settings)
    db = connect(settings.database_url)
    before = _indexes(db)
    with db.transaction() as conn:
        drop_indexes(conn, events)
    assert _indexes(db) != before
    rt = open_runtime(settings)
    rt.db.dispose()
    assert _indexes(db) == before
    db.dispose()


def test_opening_the_store_while_a_load_runs_leaves_its_indexes_to_it(sqlite_db: Database) -> None:
    """A load in progress has dropped its indexes on purpose: opening the store meanwhile (another command, the API)
    must not build them between its chunks; once it is gone (killed or done), opening builds what is missing."""
    with sqlite_db.transaction() as conn:
        dropped = drop_indexes(conn, events)
    with bulk_lock(sqlite_db.engine):
        assert restore_missing_indexes(sqlite_db) == []
        with sqlite_db.read() as conn:
            assert sorted(missing_indexes(conn, events)) == sorted(dropped)
    assert sorted(restore_missing_indexes(sqlite_db)) == sorted(dropped)
