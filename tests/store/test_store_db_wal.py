"""The write-ahead log of a SQLite store is cut back to :data:`~funnelbridge.store.db.SQLITE_WAL_LIMIT` after a large
transaction (a bulk load's index builds), at the next write's commit; nothing is lost."""

from __future__ import annotations

from pathlib import Path

from funnelbridge.store import connect
from funnelbridge.store.db import SQLITE_WAL_LIMIT


def _wal(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_a_large_transaction_leaves_no_large_log_behind(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    db = connect(f"sqlite:///{path}")
    try:
        with db.transaction() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_size_limit").scalar() == SQLITE_WAL_LIMIT
            conn.exec_driver_sql("CREATE TABLE scratch (n INTEGER PRIMARY KEY, b BLOB)")
        megabytes = SQLITE_WAL_LIMIT // 1_000_000 + 16
        with db.transaction() as conn:  # more than the limit in one transaction: the log grows past it
            for _ in range(megabytes):
                conn.exec_driver_sql("INSERT INTO scratch (b) VALUES (randomblob(1000000))")
        assert _wal(path) > SQLITE_WAL_LIMIT
        with db.transaction() as conn:  # the next write, after the checkpoint of the large one
            conn.exec_driver_sql("INSERT INTO scratch (b) VALUES (x'00')")
        assert 0 < _wal(path) <= SQLITE_WAL_LIMIT
        with db.read() as conn:
            assert conn.exec_driver_sql("SELECT count(*), sum(length(b)) FROM scratch").one() == (
                megabytes + 1,
                megabytes * 1_000_000 + 1,
            )
    finally:
        db.dispose()
