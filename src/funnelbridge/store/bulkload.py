"""Bulk loads: a table's secondary indexes dropped for a large import and rebuilt after it, and SQLite settings
for the load's transactions.

A b-tree index whose keys arrive in random order (``events (contact_id, occurred_at)``) costs a page write per
row once it outgrows the page cache; building it once after the load is a sort. Only *secondary* indexes are
dropped — never a unique index or constraint, which idempotent re-runs rely on. Dropping and rebuilding are DDL
inside the caller's transaction (transactional on SQLite and PostgreSQL), and :func:`restore_indexes` only creates
what is missing, so an import killed while its indexes were dropped is repaired by the next run (or by calling
:func:`restore_indexes`), ending in the same schema as a clean run.
"""

from __future__ import annotations

from sqlalchemy import Connection, Index, Table, inspect

__all__ = ["BULK_CACHE_KIB", "bulk_settings", "drop_indexes", "missing_indexes", "restore_indexes", "secondary_indexes"]

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
    nothing elsewhere. Settings that SQLite refuses inside a transaction (``synchronous``) are left alone."""
    if conn.dialect.name != "sqlite":
        return
    for pragma in _SQLITE_BULK if on else _SQLITE_NORMAL:
        conn.exec_driver_sql(pragma)
