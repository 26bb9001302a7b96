"""Secondary indexes of a bulk load: dropped, found missing and restored — unique keys untouched, but for
:func:`defer_unique` on an empty table (a first load), whose index :func:`restore_unique` and
:func:`restore_indexes` build again first."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, event, insert, inspect
from sqlalchemy.exc import IntegrityError

from funnelbridge.store import Database, connect
from funnelbridge.store.bulkload import (
    BULK_CACHE_KIB,
    SORTER_CACHE_KIB,
    SORTER_THREADS,
    bulk_lock,
    bulk_settings,
    declared_indexes,
    defer_unique,
    drop_indexes,
    missing_indexes,
    no_bulk_load,
    restore_indexes,
    restore_unique,
    secondary_indexes,
    sorting_in_files,
    unchecked_foreign_keys,
    unique_deferred,
    unique_indexes,
)
from funnelbridge.store.tables import events

AT = datetime(2026, 3, 1, 9, tzinfo=UTC)


def _indexes(db: Database) -> dict[str, bool]:
    with db.read() as conn:
        return {str(ix["name"]): bool(ix["unique"]) for ix in inspect(conn).get_indexes("events")}


def test_secondary_indexes_are_the_non_unique_ones() -> None:
    names = [ix.name for ix in secondary_indexes(events)]
    assert names == sorted(ix.name for ix in events.indexes if not ix.unique)
    assert names, "the events table declares secondary indexes"


def test_the_events_key_is_a_unique_index_built_before_the_secondary_ones() -> None:
    assert [ix.name for ix in unique_indexes(events)] == ["uq_events_idempotency_key"]
    assert declared_indexes(events) == unique_indexes(events) + secondary_indexes(events)


def test_defer_unique_only_on_an_empty_table_and_restore_first(sqlite_db: Database) -> None:
    before = _indexes(sqlite_db)
    with sqlite_db.transaction() as conn:
        assert defer_unique(conn, events) and unique_deferred(conn)
        drop_indexes(conn, events)
        assert missing_indexes(conn, events) == [str(ix.name) for ix in declared_indexes(events)]
    assert _indexes(sqlite_db) == {}
    with sqlite_db.transaction() as conn:
        assert not unique_deferred(conn)  # a new transaction's connection is not marked
        assert restore_unique(conn, events) == ["uq_events_idempotency_key"]
        assert restore_indexes(conn, events) == [str(ix.name) for ix in secondary_indexes(events)]
    assert _indexes(sqlite_db) == before
    with sqlite_db.transaction() as conn:
        conn.execute(insert(events).values(idempotency_key="k", type="t", occurred_at=AT, received_at=AT))
        assert not defer_unique(conn, events) and not unique_deferred(conn)
    assert _indexes(sqlite_db) == before


def test_drop_then_restore_round_trip_keeps_unique_keys(db: Database) -> None:
    before = _indexes(db)
    declared = {str(ix.name) for ix in secondary_indexes(events)}
    with db.transaction() as conn:
        assert sorted(drop_indexes(conn, events)) == sorted(declared)
        assert sorted(missing_indexes(conn, events)) == sorted(declared)
        assert drop_indexes(conn, events) == []  # nothing left to drop
    during = _indexes(db)
    assert declared.isdisjoint(during)
    assert {n: u for n, u in before.items() if n not in declared} == during  # unique keys stay
    with db.transaction() as conn:
        assert sorted(restore_indexes(conn, events)) == sorted(declared)
        assert restore_indexes(conn, events) == []
        assert missing_indexes(conn, events) == []
    assert _indexes(db) == before


def test_a_rolled_back_drop_leaves_the_indexes(sqlite_db: Database) -> None:
    before = _indexes(sqlite_db)
    try:
        with sqlite_db.transaction() as conn:
            drop_indexes(conn, events)
            raise RuntimeError("killed")
    except RuntimeError:
        pass
    assert _indexes(sqlite_db) == before


def test_bulk_settings_are_applied_then_restored(sqlite_db: Database) -> None:
    with sqlite_db.transaction() as conn:
        before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        bulk_settings(conn, on=True)
        during = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    with sqlite_db.transaction() as conn:
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == during  # the connection's, across transactions
        bulk_settings(conn, on=False)
        after = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    assert before == after == -65_536  # store.connect's, in KiB
    assert during == -BULK_CACHE_KIB


def _cache_at_each_build(db: Database) -> list[int]:
    """Record the connection's page cache (KiB, negative) as each CREATE INDEX starts."""
    seen: list[int] = []

    def before(conn: Connection, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("CREATE") and "INDEX" in statement.upper():
            seen.append(conn.connection.dbapi_connection.execute("PRAGMA cache_size").fetchone()[0])  # type: ignore[union-attr]

    event.listen(db.engine, "before_cursor_execute", before)
    return seen


@pytest.mark.parametrize("bulk", [True, False])
def test_indexes_are_built_with_the_small_sorter_cache_then_given_back(sqlite_db: Database, bulk: bool) -> None:
    with sqlite_db.transaction() as conn:
        assert defer_unique(conn, events)
        drop_indexes(conn, events)
    seen = _cache_at_each_build(sqlite_db)
    with sqlite_db.transaction() as conn:
        bulk_settings(conn, on=bulk)
        made = restore_indexes(conn, events)
        after = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    assert made == [str(ix.name) for ix in declared_indexes(events)]
    assert seen == [-SORTER_CACHE_KIB] * len(made)
    assert after == (-BULK_CACHE_KIB if bulk else -65_536)  # what the connection had before the builds


def test_restore_unique_builds_with_the_small_sorter_cache_and_nothing_missing_changes_nothing(
    sqlite_db: Database,
) -> None:
    with sqlite_db.transaction() as conn:
        assert defer_unique(conn, events)
    seen = _cache_at_each_build(sqlite_db)
    with sqlite_db.transaction() as conn:
        bulk_settings(conn, on=True)
        assert restore_unique(conn, events) == ["uq_events_idempotency_key"]
        assert restore_indexes(conn, events) == []
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -BULK_CACHE_KIB
    assert seen == [-SORTER_CACHE_KIB]


def test_bulk_settings_leave_postgresql_alone(db: Database) -> None:
    with db.transaction() as conn:
        bulk_settings(conn, on=True)
        bulk_settings(conn, on=False)  # no statement on PostgreSQL: nothing to fail or to leak


def _insert_orphan(db: Database, key: str) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with db.transaction() as conn:  # contact 999999 does not exist
        conn.execute(insert(events).values(idempotency_key=key, contact_id=999_999, type="page_view",
                                           occurred_at=at, received_at=at))  # fmt: skip


def _pooled(db: Database, pragma: str) -> set[int]:
    """The pragma's value on every connection the pool holds (checked out one after the other, all at once)."""
    conns = [db.engine.raw_connection() for _ in range(db.engine.pool.checkedin() + 1)]
    try:
        return {c.driver_connection.execute(f"PRAGMA {pragma}").fetchone()[0] for c in conns}  # type: ignore[union-attr]
    finally:
        for c in conns:
            c.close()


def test_unchecked_foreign_keys_only_meanwhile_and_only_on_this_thread(sqlite_db: Database) -> None:
    with pytest.raises(IntegrityError):
        _insert_orphan(sqlite_db, "before")
    refused: list[Exception] = []

    def other_thread() -> None:
        try:
            _insert_orphan(sqlite_db, "other")
        except IntegrityError as exc:
            refused.append(exc)

    with unchecked_foreign_keys(sqlite_db.engine):
        _insert_orphan(sqlite_db, "during")  # no parent look-up: stored
        _insert_orphan(sqlite_db, "during-2")  # the next checkout too
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert len(refused) == 1  # another thread's connection kept its checks
    with pytest.raises(IntegrityError):
        _insert_orphan(sqlite_db, "after")
    assert _pooled(sqlite_db, "foreign_keys") == {1}  # every pooled connection enforces them again
    with sqlite_db.read() as conn:
        keys = {r[0] for r in conn.exec_driver_sql("SELECT idempotency_key FROM events")}
    assert keys == {"during", "during-2"}


def test_unchecked_foreign_keys_off_or_elsewhere_changes_nothing(db: Database) -> None:
    with unchecked_foreign_keys(db.engine, on=db.dialect != "sqlite"), pytest.raises(IntegrityError):
        _insert_orphan(db, "k")  # SQLite with on=False; PostgreSQL whatever on says


def _sorting(conn: Connection) -> tuple[int, int]:
    """The connection's (temp_store, threads): 2 / 0 in memory (the store's), 1 / n in files."""
    temp = conn.exec_driver_sql("PRAGMA temp_store").scalar()
    threads = conn.exec_driver_sql("PRAGMA threads").scalar()
    return int(temp), int(threads)  # type: ignore[arg-type]


def test_sorting_in_files_only_meanwhile_and_only_on_this_thread(sqlite_db: Database) -> None:
    """Index builds sort in temporary files with a helper thread (SQLite keeps a sort in memory as one list when
    ``temp_store=MEMORY``: 3x slower at 10M events); temporary tables still work, other threads' connections and
    every connection given back to the pool keep the store's in-memory temporary storage."""
    others: list[tuple[int, int]] = []

    def other_thread() -> None:
        with sqlite_db.read() as conn:
            others.append(_sorting(conn))

    with sqlite_db.transaction() as conn:  # a temporary table on the pooled connection: SQLite then refuses the
        conn.exec_driver_sql("CREATE TEMP TABLE fb_probe (n INTEGER)")  # pragma inside a transaction
    with sorting_in_files(sqlite_db.engine):
        with sqlite_db.transaction() as conn:
            assert _sorting(conn) == (1, SORTER_THREADS)
            conn.exec_driver_sql("CREATE TEMP TABLE fb_probe (n INTEGER)")  # dropped by the change: made again
            conn.exec_driver_sql("INSERT INTO fb_probe VALUES (1)")
            with sqlite_db.read() as second:  # a second connection at once: the same
                assert _sorting(second) == (1, SORTER_THREADS)
            made = restore_indexes(conn, events)
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert made == []
    assert others == [(2, 0)]
    assert _pooled(sqlite_db, "temp_store") == {2}  # every pooled connection has the store's setting back
    assert _pooled(sqlite_db, "threads") == {0}


def test_sorting_in_files_builds_the_same_indexes(sqlite_db: Database) -> None:
    with sqlite_db.transaction() as conn:
        for i in range(300):
            conn.execute(insert(events).values(idempotency_key=f"k{i % 7}-{i}", contact_id=None, type=f"t{i % 3}",
                                               occurred_at=AT, received_at=AT))  # fmt: skip
        assert defer_unique(conn, events) is False  # not empty: its unique index stays
        dropped = drop_indexes(conn, events)
    with sorting_in_files(sqlite_db.engine), sqlite_db.transaction() as conn:
        assert restore_indexes(conn, events) == dropped
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


def test_sorting_in_files_elsewhere_changes_nothing(db: Database) -> None:
    with sorting_in_files(db.engine, on=db.dialect != "sqlite"), db.transaction() as conn:
        if db.dialect == "sqlite":
            assert _sorting(conn) == (2, 0)
        else:
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1


def _holder(path: Path) -> subprocess.Popen[str]:
    """Another process running a "bulk load": it holds :func:`bulk_lock` on the store until killed."""
    code = (
        "import sys, time\n"
        "from funnelbridge.store import connect\n"
        "from funnelbridge.store.bulkload import bulk_lock\n"
        f"with bulk_lock(connect({f'sqlite:///{path}'!r}).engine):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_no_bulk_load_sees_a_load_in_another_process_and_its_death(sqlite_db: Database) -> None:
    """A load's lock is seen from another process while it runs, and is gone the moment the process is killed
    (the kernel drops ``flock`` locks with the process: nothing to clean up)."""
    holder = _holder(Path(str(sqlite_db.engine.url.database)))
    try:
        with no_bulk_load(sqlite_db.engine) as free:
            assert not free
    finally:
        holder.kill()
        holder.wait()
    with no_bulk_load(sqlite_db.engine) as free:
        assert free


def test_a_load_starting_waits_for_a_repair_under_way(sqlite_db: Database) -> None:
    order: list[str] = []

    def load() -> None:
        with bulk_lock(sqlite_db.engine):
            order.append("load")

    with no_bulk_load(sqlite_db.engine) as free:
        assert free
        loader = threading.Thread(target=load)
        loader.start()
        loader.join(0.3)
        order.append("repair done")
    loader.join()
    assert order == ["repair done", "load"]
    with bulk_lock(sqlite_db.engine), bulk_lock(sqlite_db.engine), no_bulk_load(sqlite_db.engine) as free:
        assert not free  # loads share the lock; a repair does not get it


def test_a_load_locks_sqlite_stores_only(db: Database) -> None:
    with bulk_lock(db.engine), no_bulk_load(db.engine) as free:
        assert free is (db.dialect != "sqlite")


def test_a_store_whose_lock_file_cannot_be_made_is_free(tmp_path: Path) -> None:
    """A store in a directory this process cannot write (its lock file cannot be made): nobody can be loading it
    through that file either; opening and repairing go on."""
    database = connect(f"sqlite:///{tmp_path / 'gone' / 'store.db'}")  # no such directory: os.open fails
    try:
        with bulk_lock(database.engine), no_bulk_load(database.engine) as free:
            assert free
    finally:
        database.dispose()
