"""A bulk events import (secondary indexes dropped, rebuilt at the end) stores exactly what a normal import
stores, and any import of events repairs the indexes a killed bulk import left dropped."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ingest_helpers import accounts, identities, merges, rows
from sqlalchemy import inspect

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.domain.events import EventBus
from funnelbridge.ingest import import_file
from funnelbridge.ingest.readers import open_table
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.store import Database, connect
from funnelbridge.store.bulkload import drop_indexes, missing_indexes, no_bulk_load, unchecked_foreign_keys
from funnelbridge.store.migrate import upgrade
from funnelbridge.store.tables import contacts, events

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _events_file(path: Path, n: int, *, identify: bool) -> Path:
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["type", "email", "anonymous_id", "timestamp", "path", "utm_source"])
        for i in range(n):
            email = f"p{i % 97}@c{i % 13}.example" if i % 5 else ""
            anon = f"v{i % 41}" if not email or (identify and i % 17 == 0) else ""
            out.writerow(["page_view", email, anon, f"2026-02-0{1 + i % 9}T{i % 24:02d}:{i % 60:02d}:00Z", "/p",
                          "ads" if i % 3 == 0 else ""])  # fmt: skip
    return path


def _runtime(path: Path) -> Runtime:
    db = connect(f"sqlite:///{path}")
    upgrade(db)
    return Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW), bus=EventBus(published=[]))


def _state(rt: Runtime) -> dict[str, Any]:
    with rt.db.read() as conn:
        names = sorted(str(ix["name"]) for ix in inspect(conn).get_indexes("events"))
    return {"indexes": names, **{t.name: rows(rt, t) for t in (accounts, contacts, identities, merges, events)}}


def _import(rt: Runtime, path: Path, bulk: bool | None) -> tuple[int, int, int]:
    s = import_file(rt, "events", path, chunk_size=300, defer=True, bulk=bulk)
    return s.inserted, s.duplicates, s.contacts_created


@pytest.mark.parametrize("identify", [False, True], ids=["plain", "with-identifications"])
def test_bulk_import_equals_normal_import(tmp_path: Path, identify: bool) -> None:
    path = _events_file(tmp_path / "events.csv", 2000, identify=identify)
    normal, bulk = _runtime(tmp_path / "normal.db"), _runtime(tmp_path / "bulk.db")
    try:
        assert _import(normal, path, False) == _import(bulk, path, True)
        assert _import(bulk, path, True) == (0, 2000, 0)  # a re-run changes nothing
        assert _state(bulk) == _state(normal)
    finally:
        normal.db.dispose()
        bulk.db.dispose()


@pytest.mark.parametrize("identify", [False, True], ids=["plain", "with-identifications"])
def test_bulk_import_without_foreign_key_checks_stores_the_same_valid_rows(tmp_path: Path, identify: bool) -> None:
    """A bulk import run inside :func:`unchecked_foreign_keys` stores what a checked one does, and every stored
    reference is valid (SQLite's own check finds nothing) — the writer references only what it looked up or
    created in the same transaction."""
    path = _events_file(tmp_path / "events.csv", 900, identify=identify)
    checked, unchecked = _runtime(tmp_path / "checked.db"), _runtime(tmp_path / "unchecked.db")
    try:
        with unchecked_foreign_keys(unchecked.db.engine):
            with unchecked.db.transaction() as conn:
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0
            assert _import(unchecked, path, True) == _import(checked, path, True)
        assert _state(unchecked) == _state(checked)
        with unchecked.db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        checked.db.dispose()
        unchecked.db.dispose()


def test_next_import_restores_indexes_a_killed_bulk_import_dropped(sqlite_db: Database, tmp_path: Path) -> None:
    rt = Runtime(db=sqlite_db, playbook=load_example("b2b"), clock=FrozenClock(NOW), bus=EventBus(published=[]))
    with sqlite_db.transaction() as conn:
        assert drop_indexes(conn, events)  # what a bulk import killed before its end leaves behind
    _import(rt, _events_file(tmp_path / "few.csv", 10, identify=False), None)
    with sqlite_db.read() as conn:
        assert missing_indexes(conn, events) == []


def test_size_hint_estimates_the_rows_of_a_csv(tmp_path: Path) -> None:
    for n in (0, 3, 20_000):
        table = open_table(_events_file(tmp_path / f"e{n}.csv", n, identify=True))
        try:
            hint, real = table.size_hint, sum(1 for _ in table.rows)
        finally:
            table.close()
        assert real == n
        assert hint is not None and abs(hint - n) <= n * 0.1


class _Stop(Exception):
    pass


@pytest.mark.parametrize("bulk", [False, True], ids=["normal", "bulk"])
def test_a_failure_after_a_chunk_keeps_the_committed_chunks(tmp_path: Path, bulk: bool) -> None:
    """An error raised after the second chunk's commit ends the import there (indexes are back), and the next
    run stores exactly the rest."""
    path = _events_file(tmp_path / "events.csv", 1500, identify=False)
    rt, clean = _runtime(tmp_path / "stopped.db"), _runtime(tmp_path / "clean.db")
    done: list[int] = []

    def progress(count: int) -> None:
        done.append(count)
        if len(done) == 2:
            raise _Stop

    try:
        with pytest.raises(_Stop):
            import_file(rt, "events", path, progress=progress, chunk_size=300, defer=True, bulk=bulk)
        assert len(rows(rt, events)) == 600 and _state(rt)["indexes"] == _state(clean)["indexes"]
        assert _import(rt, path, bulk)[:2] == (900, 600)
        _import(clean, path, bulk)
        assert _state(rt) == _state(clean)
    finally:
        rt.db.dispose()
        clean.db.dispose()


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "normal"])
def test_a_bulk_import_inserts_events_without_foreign_key_checks_and_restores_them(tmp_path: Path, bulk: bool) -> None:
    """The import itself runs a bulk load under :func:`unchecked_foreign_keys` (SQLite looked each event's contact
    up: 0.70x of SQLite's CPU a row without, ``bench/sqlite_bulk.py``); a normal import keeps the checks, and the
    pooled connections have them back afterwards."""
    from sqlalchemy import event as sa_event

    rt = _runtime(tmp_path / "store.db")
    seen: set[int] = set()

    def spy(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO EVENTS"):
            seen.add(conn.connection.dbapi_connection.execute("PRAGMA foreign_keys").fetchone()[0])

    sa_event.listen(rt.db.engine, "before_cursor_execute", spy)
    try:
        _import(rt, _events_file(tmp_path / "events.csv", 900, identify=True), bulk)
        assert seen == ({0} if bulk else {1})
        with rt.db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    finally:
        sa_event.remove(rt.db.engine, "before_cursor_execute", spy)
        rt.db.dispose()


@pytest.mark.parametrize("identify", [False, True], ids=["built-at-the-end", "built-when-a-chunk-needs-them"])
@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "normal"])
def test_a_bulk_import_builds_its_indexes_sorting_in_files_and_gives_memory_back(
    tmp_path: Path, bulk: bool, identify: bool
) -> None:
    """A bulk load runs under :func:`~funnelbridge.store.bulkload.sorting_in_files`: its index builds sort in
    temporary files, at the end or when a chunk needs the indexes (identifications); any other import keeps the
    store's in-memory temporary storage; the pooled connections have it back."""
    from sqlalchemy import event as sa_event

    rt = _runtime(tmp_path / "store.db")
    builds: list[int] = []
    inserts: set[int] = set()

    def spy(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        head = statement.lstrip().upper()
        temp = conn.connection.dbapi_connection.execute("PRAGMA temp_store").fetchone()[0]
        if head.startswith("CREATE") and " INDEX " in head:
            builds.append(temp)
        elif head.startswith("INSERT INTO EVENTS"):
            inserts.add(temp)

    sa_event.listen(rt.db.engine, "before_cursor_execute", spy)
    try:
        _import(rt, _events_file(tmp_path / "events.csv", 900, identify=identify), bulk)
        assert builds == ([1, 1, 1] if bulk else [])  # the three events indexes, in temporary files
        assert inserts == ({1} if bulk else {2})
        with rt.db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA temp_store").scalar() == 2
            assert not missing_indexes(conn, events)
    finally:
        sa_event.remove(rt.db.engine, "before_cursor_execute", spy)
        rt.db.dispose()


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "normal"])
def test_a_bulk_import_is_seen_running_until_its_end(tmp_path: Path, bulk: bool) -> None:
    """Between a bulk load's chunks its lock is held (nobody else builds the indexes it dropped); a normal import
    drops none and holds nothing; afterwards the store is free."""
    rt = _runtime(tmp_path / "store.db")
    seen: list[bool] = []

    def during(_rows: int) -> None:
        with no_bulk_load(rt.db.engine) as free:
            seen.append(free)

    try:
        path = _events_file(tmp_path / "events.csv", 900, identify=False)
        import_file(rt, "events", path, chunk_size=300, defer=True, bulk=bulk, progress=during)
        assert seen == [not bulk] * 3
        with no_bulk_load(rt.db.engine) as free:
            assert free
    finally:
        rt.db.dispose()
