"""The page size of SQLite stores: a new store gets :data:`~funnelbridge.store.db.SQLITE_PAGE_SIZE` (fewer system
calls for the same bytes); an existing store keeps its own and works as before."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select

from funnelbridge.store import connect
from funnelbridge.store.db import SQLITE_PAGE_SIZE
from funnelbridge.store.migrate import upgrade
from funnelbridge.store.tables import contacts

AT = datetime(2026, 3, 1, 9, tzinfo=UTC)


def _page_size(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA page_size").fetchone()[0])


def _journal_mode(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])


def test_a_new_store_gets_the_larger_page_size_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    db = connect(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    assert SQLITE_PAGE_SIZE == 16_384
    assert _page_size(path) == SQLITE_PAGE_SIZE
    assert _journal_mode(path) == "wal"


def test_an_existing_store_keeps_its_page_size(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # a store made before: SQLite's default page size, WAL
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE before_us (x INTEGER)")
    assert _page_size(path) == 4_096
    db = connect(f"sqlite:///{path}")
    upgrade(db)
    with db.transaction() as conn:
        conn.execute(insert(contacts).values(created_at=AT, updated_at=AT))
    with db.read() as conn:
        assert conn.execute(select(contacts.c.id)).scalars().all() == [1]
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    db.dispose()
    assert _page_size(path) == 4_096
