"""Secondary indexes of a bulk load: dropped, found missing and restored — unique keys never touched."""

from __future__ import annotations

from sqlalchemy import inspect

from funnelbridge.store import Database
from funnelbridge.store.bulkload import (
    bulk_settings,
    drop_indexes,
    missing_indexes,
    restore_indexes,
    secondary_indexes,
)
from funnelbridge.store.tables import events


def _indexes(db: Database) -> dict[str, bool]:
    with db.read() as conn:
        return {str(ix["name"]): bool(ix["unique"]) for ix in inspect(conn).get_indexes("events")}


def test_secondary_indexes_are_the_non_unique_ones() -> None:
    names = [ix.name for ix in secondary_indexes(events)]
    assert names == sorted(ix.name for ix in events.indexes if not ix.unique)
    assert names, "the events table declares secondary indexes"


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


def test_bulk_settings_change_only_the_sqlite_page_cache(sqlite_db: Database) -> None:
    with sqlite_db.transaction() as conn:
        bulk_settings(conn, on=True)
        big = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        bulk_settings(conn, on=False)
        normal = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    assert big is not None and normal is not None and big < normal < 0  # negative: KiB
