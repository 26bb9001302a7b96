"""Bulk loads: a table's secondary indexes dropped for a large import and rebuilt after it, and SQLite settings
for the load's transactions.

A b-tree index whose keys arrive in random order (``events (contact_id, occurred_at)``) costs a page write per
row once it outgrows the page cache; building it once after the load is a sort. Only *secondary* indexes are
dropped — never a unique index or constraint, which idempotent re-runs rely on. Dropping and rebuilding are DDL
inside the caller's transaction (transactional on SQLite and PostgreSQL), and :func:`restore_indexes` only creates
what is missing, so an import killed while its indexes were dropped is repaired by the next run (or by calling
:func:`restore_indexes`), ending in the same schema as a clean run.

A bulk load's own transactions may also skip SQLite's foreign key checks (:func:`unchecked_foreign_keys`): with
them, every inserted event opens a cursor on ``contacts`` and seeks its row (random pages of a table that a million
contacts make larger than the cache) — a third of SQLite's cost of inserting an event. Nothing else changes: the
unique keys, the WAL and ``synchronous`` stay.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Index, Table, event, inspect

__all__ = [
    "BULK_CACHE_KIB",
    "bulk_settings",
    "drop_indexes",
    "missing_indexes",
    "restore_indexes",
    "secondary_indexes",
    "unchecked_foreign_keys",
]

BULK_CACHE_KIB = 262_144
"""SQLite page cache of a bulk load's connection (256 MiB; the default connections use 64 MiB)."""

_SQLITE_BULK = ("PRAGMA cache_size=-262144",)  # constant text: BULK_CACHE_KIB
_SQLITE_NORMAL = ("PRAGMA cache_size=-65536",)  # what store.db sets on every connection


def secondary_indexes(table: Table) -> list[Index]:
    """The table's non-unique indexes (declared in :mod:`funnelbridge.store.tables`), by name."""
    return sorted((ix for ix in table.indexes if not ix.unique), key=lambda ix: str(ix.name))


def _present(conn: Connection, table: Table) -> set[str]:
    return {str(ix["name"]) for ix in inspect(conn).get_indexes(table.name)}


def missing_indexes(conn: Connection, table: Table) -> list[str]:
    """Names of the table's secondary indexes that the store lacks (e.g. after a killed bulk load)."""
    present = _present(conn, table)
    return [str(ix.name) for ix in secondary_indexes(table) if ix.name not in present]


def drop_indexes(conn: Connection, table: Table) -> list[str]:
    """Drop the table's secondary indexes that exist; returns their names."""
    present = _present(conn, table)
    dropped = []
    for ix in secondary_indexes(table):
        if ix.name in present:
            ix.drop(conn)
            dropped.append(str(ix.name))
    return dropped


def restore_indexes(conn: Connection, table: Table) -> list[str]:
    """Create the table's secondary indexes that are missing; returns their names."""
    present = _present(conn, table)
    made = []
    for ix in secondary_indexes(table):
        if ix.name not in present:
            ix.create(conn)
            made.append(str(ix.name))
    return made


def bulk_settings(conn: Connection, *, on: bool) -> None:
    """On SQLite, a larger page cache for a bulk load's transactions (``on``) or the usual one (not ``on``);
    nothing elsewhere. Settings that SQLite refuses (``synchronous``) or ignores (``foreign_keys``: see
    :func:`unchecked_foreign_keys`) inside a transaction are left alone."""
    if conn.dialect.name != "sqlite":
        return
    for pragma in _SQLITE_BULK if on else _SQLITE_NORMAL:
        conn.exec_driver_sql(pragma)


_UNCHECKED = "funnelbridge_fk_off"


@contextmanager
def unchecked_foreign_keys(engine: Engine, *, on: bool = True) -> Iterator[None]:
    """On SQLite (and ``on``), the connections that *this thread* checks out of ``engine``'s pool meanwhile do not
    enforce foreign keys; each gets them back when it returns to the pool. For a bulk load whose rows reference only
    what the same transaction just looked up or created (contacts are never deleted, and the write lock is held from
    the look-up to the insert): SQLite otherwise looks every inserted row's parent up (a cursor and a seek a row).
    ``PRAGMA foreign_keys`` is a no-op inside a transaction, hence the pool's checkout,
    which comes before the transaction's ``BEGIN``. Other threads' connections keep their checks."""
    if not on or engine.dialect.name != "sqlite":
        yield
        return
    owner = threading.get_ident()

    def checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if threading.get_ident() == owner:
            dbapi_conn.execute("PRAGMA foreign_keys=OFF")
            record.info[_UNCHECKED] = True

    if not event.contains(engine, "checkin", _checked_again):  # stays: a connection may come back after the end
        event.listen(engine, "checkin", _checked_again)
    event.listen(engine, "checkout", checkout)
    try:
        yield
    finally:
        event.remove(engine, "checkout", checkout)


def _checked_again(dbapi_conn: Any, record: Any) -> None:
    """A connection back in the pool enforces foreign keys again (its transaction has ended: the pool rolled back
    whatever was open); one that cannot is dropped from the pool."""
    if not record.info.pop(_UNCHECKED, False) or dbapi_conn is None:
        return
    try:
        dbapi_conn.execute("PRAGMA foreign_keys=ON")
    except Exception as exc:  # never back into the pool unchecked
        record.invalidate(exc)
