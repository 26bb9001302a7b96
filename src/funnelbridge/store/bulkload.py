"""Bulk loads: a table's secondary indexes dropped for a large import and rebuilt after it, and SQLite settings
for the load's transactions.

A b-tree index whose keys arrive in random order (``events (contact_id, occurred_at)``) costs a page write per row
once it outgrows the page cache; building it once after the load is a sort. :func:`drop_indexes` drops the
*secondary* indexes only. A table's unique *indexes* (declared as :class:`~sqlalchemy.Index`, never a constraint:
SQLite cannot drop those) are dropped by :func:`defer_unique` alone, and only while the table is empty — a first
load, whose caller must then keep its own rows unique (:mod:`funnelbridge.ingest.firstkeys`); meanwhile the
connection carries :data:`UNIQUE_DEFERRED`, which makes the events insert skip conflicts without naming the index
(an ``ON CONFLICT (idempotency_key)`` of anyone else fails: no duplicate can slip in; a retryable
:class:`~funnelbridge.errors.StoreBusyError`). Dropping and rebuilding are DDL inside the caller's transaction
(transactional on SQLite and PostgreSQL), and :func:`restore_indexes` only creates what is missing — the unique
indexes first — so an import killed while its indexes were dropped is repaired by the next run or the next open
(:func:`funnelbridge.store.migrate.restore_missing_indexes`), before any insert, ending in the same schema as a
clean run.

A bulk load holds a shared lock on the store's ``-bulkload`` file for its whole length (:func:`bulk_lock`; ``flock``,
so the kernel releases it when the process dies). Whoever finds the indexes missing asks :func:`no_bulk_load`
before building them: the repair at open and a write refused for want of the unique key index
(:class:`~funnelbridge.store.db.Database`) build them only when no load runs — a killed load's are built at once,
a running load's are left to it (building a 10M-event table's indexes between its chunks would make each of its
later inserts maintain them).

A bulk load's own transactions may also skip SQLite's foreign key checks (:func:`unchecked_foreign_keys`): with
them, every inserted event opens a cursor on ``contacts`` and seeks its row (random pages of a table that a million
contacts make larger than the cache) — a third of SQLite's cost of inserting an event. Nothing else changes: the
unique keys, the WAL and ``synchronous`` stay.

Indexes are built sorting in temporary files (:func:`sorting_in_files`: the whole bulk load's connections, and the
repair at open) with a small page cache (:data:`SORTER_CACHE_KIB`, the connection's own given back afterwards).
SQLite's ``CREATE INDEX`` feeds every key to its sorter; with ``temp_store=MEMORY`` (the store's setting) the sorter
never writes a run (``vdbesort.c`` sizes runs only when temporary files are on disk), so the whole key set is one
in-memory list merge-sorted at the end — at 10,000,000 events a walk of random memory: the three events indexes on a
store loaded by a real import took 29.2 / 31.9 s (``(contact_id, occurred_at)`` 17.5 / 20.2 of them). With
``temp_store=FILE`` it sorts runs of the page cache's size (at least 250 pages: 4 MiB on a 16 KiB-page store) in CPU
caches and merges them from files (``SQLITE_TMPDIR``, ``TMPDIR`` or ``/var/tmp``; unlinked when opened, at 10M
events a few hundred MiB, mostly in the OS's page cache):
15.5 / 15.7 s, and with one helper thread (:data:`SORTER_THREADS`: a run sorted while the next is read, merges in
parallel; SQLite starts none for in-memory sorts) 11.8 s wall for 19.1 CPU s (two helpers 11.2 / 19.4; an 8 MiB
cache 17.4 single-threaded). The same 10M-event import then ends 18 s sooner: 98.6 → 77.2 s (SQLite 3.40, one
process each, quiet, load 1.0–1.5).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager as ContextManager
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Index, Table, event, exists, inspect, select

try:
    import fcntl
except ImportError:  # not on POSIX: no load is ever seen running (its indexes are built at the next open)
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "BULK_CACHE_KIB",
    "LOCK_SUFFIX",
    "SORTER_CACHE_KIB",
    "SORTER_THREADS",
    "UNIQUE_DEFERRED",
    "bulk_lock",
    "bulk_settings",
    "declared_indexes",
    "defer_unique",
    "drop_indexes",
    "missing_indexes",
    "no_bulk_load",
    "restore_indexes",
    "restore_unique",
    "secondary_indexes",
    "sorting_in_files",
    "unchecked_foreign_keys",
    "unique_deferred",
    "unique_indexes",
]

UNIQUE_DEFERRED = "funnelbridge_unique_deferred"
"""Execution option of a connection whose transaction loads a table with its unique indexes dropped
(:func:`defer_unique`): its events insert skips conflicts on any unique index, naming none."""

BULK_CACHE_KIB = 262_144
"""SQLite page cache of a bulk load's connection (256 MiB; the default connections use 64 MiB)."""

SORTER_CACHE_KIB = 2_048
"""SQLite page cache while indexes are built (2 MiB): the size of the sorter's in-memory runs (module docstring)."""

SORTER_THREADS = 1
"""Helper threads of SQLite's sorter while a bulk load's indexes are built (:func:`sorting_in_files`)."""

_SQLITE_BULK = ("PRAGMA cache_size=-262144",)  # constant text: BULK_CACHE_KIB
_SQLITE_NORMAL = ("PRAGMA cache_size=-65536",)  # what store.db sets on every connection
_SQLITE_SORTER = "PRAGMA cache_size=-2048"  # constant text: SORTER_CACHE_KIB
_SQLITE_FILE_SORTER = ("PRAGMA temp_store=FILE", "PRAGMA threads=1")  # constant text: SORTER_THREADS
_SQLITE_MEMORY_SORTER = ("PRAGMA temp_store=MEMORY", "PRAGMA threads=0")  # what store.db sets (threads: SQLite's)
_CACHE_BACK = {-BULK_CACHE_KIB: _SQLITE_BULK[0], -65_536: _SQLITE_NORMAL[0]}  # given back after a build


def secondary_indexes(table: Table) -> list[Index]:
    """The table's non-unique indexes (declared in :mod:`funnelbridge.store.tables`), by name."""
    return sorted((ix for ix in table.indexes if not ix.unique), key=lambda ix: str(ix.name))


def unique_indexes(table: Table) -> list[Index]:
    """The table's unique indexes (declared as :class:`~sqlalchemy.Index`), by name."""
    return sorted((ix for ix in table.indexes if ix.unique), key=lambda ix: str(ix.name))


def declared_indexes(table: Table) -> list[Index]:
    """Every index declared on the table: the unique ones first (built before anything can insert again)."""
    return unique_indexes(table) + secondary_indexes(table)


def _present(conn: Connection, table: Table) -> set[str]:
    return {str(ix["name"]) for ix in inspect(conn).get_indexes(table.name)}


def missing_indexes(conn: Connection, table: Table) -> list[str]:
    """Names of the table's declared indexes that the store lacks (e.g. after a killed bulk load)."""
    present = _present(conn, table)
    return [str(ix.name) for ix in declared_indexes(table) if ix.name not in present]


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
    """Create the table's declared indexes that are missing, the unique ones first; returns their names. The
    connection's :data:`UNIQUE_DEFERRED` is cleared."""
    return _create_missing(conn, table, declared_indexes(table))


def _create_missing(conn: Connection, table: Table, indexes: list[Index]) -> list[str]:
    present = _present(conn, table)
    made = []
    with _sorter_cache(conn, on=any(ix.name not in present for ix in indexes)):
        for ix in indexes:
            if ix.name not in present:
                ix.create(conn)
                made.append(str(ix.name))
    if unique_deferred(conn):
        unique_deferred(conn, on=False)
    return made


@contextmanager
def _sorter_cache(conn: Connection, *, on: bool) -> Iterator[None]:
    """On SQLite (and ``on``), the small page cache of index builds (:data:`SORTER_CACHE_KIB`) meanwhile; the
    connection's cache size back afterwards (the bulk one or the usual one; any other becomes the usual one)."""
    if not on or conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(_SQLITE_SORTER)
    try:
        yield
    finally:
        conn.exec_driver_sql(_CACHE_BACK.get(before, _SQLITE_NORMAL[0]))  # type: ignore[arg-type]


def defer_unique(conn: Connection, table: Table) -> bool:
    """If the table is empty, drop its unique indexes (those that exist) and mark the connection
    :data:`UNIQUE_DEFERRED` for the rest of its transaction; whether it did (not when the table holds rows).
    The caller guarantees that what it inserts meanwhile is unique (the index is built again by
    :func:`restore_unique` or :func:`restore_indexes`, which must not fail) and marks each later transaction's
    connection itself (:func:`unique_deferred` with ``on``)."""
    if conn.execute(select(exists().select_from(table))).scalar():
        return False
    present = _present(conn, table)
    for ix in unique_indexes(table):
        if ix.name in present:
            ix.drop(conn)
    unique_deferred(conn, on=True)
    return True


def restore_unique(conn: Connection, table: Table) -> list[str]:
    """Create the table's unique indexes that are missing (before anything inserts again); returns their names.
    The connection's :data:`UNIQUE_DEFERRED` is cleared."""
    return _create_missing(conn, table, unique_indexes(table))


def unique_deferred(conn: Connection, *, on: bool | None = None) -> bool:
    """Whether the connection's transaction loads with unique indexes dropped (:data:`UNIQUE_DEFERRED`); with
    ``on``, mark it so (True) or not (False) first."""
    if on is not None:
        conn.execution_options(**{UNIQUE_DEFERRED: on})
    return bool(conn.get_execution_options().get(UNIQUE_DEFERRED, False))


def bulk_settings(conn: Connection, *, on: bool) -> None:
    """On SQLite, a larger page cache for a bulk load's transactions (``on``) or the usual one (not ``on``);
    nothing elsewhere. Settings that SQLite refuses (``synchronous``) or ignores (``foreign_keys``: see
    :func:`unchecked_foreign_keys`) inside a transaction are left alone."""
    if conn.dialect.name != "sqlite":
        return
    for pragma in _SQLITE_BULK if on else _SQLITE_NORMAL:
        conn.exec_driver_sql(pragma)


_BACK = "funnelbridge_pragmas_back"  # a pooled connection's info: the pragmas that give its usual settings back


@contextmanager
def _this_thread(engine: Engine, pragmas: tuple[str, ...], backs: tuple[str, ...], *, on: bool) -> Iterator[None]:
    """On SQLite (and ``on``), ``pragmas`` on every connection that *this thread* checks out of ``engine``'s pool
    meanwhile (before its ``BEGIN``: some pragmas are no-ops or errors inside a transaction); ``backs`` when it
    returns to the pool. Other threads' connections are left alone."""
    if not on or engine.dialect.name != "sqlite":
        yield
        return
    owner = threading.get_ident()

    def checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if threading.get_ident() == owner:
            for pragma in pragmas:
                dbapi_conn.execute(pragma)
            record.info.setdefault(_BACK, {}).update(dict.fromkeys(backs))

    if not event.contains(engine, "checkin", _settings_back):  # stays: a connection may come back after the end
        event.listen(engine, "checkin", _settings_back)
    event.listen(engine, "checkout", checkout)
    try:
        yield
    finally:
        event.remove(engine, "checkout", checkout)


def unchecked_foreign_keys(engine: Engine, *, on: bool = True) -> ContextManager[None]:
    """On SQLite (and ``on``), the connections that *this thread* checks out of ``engine``'s pool meanwhile do not
    enforce foreign keys; each gets them back when it returns to the pool. For a bulk load whose rows reference only
    what the same transaction just looked up or created (contacts are never deleted, and the write lock is held from
    the look-up to the insert): SQLite otherwise looks every inserted row's parent up (a cursor and a seek a row).
    ``PRAGMA foreign_keys`` is a no-op inside a transaction, hence the pool's checkout,
    which comes before the transaction's ``BEGIN``. Other threads' connections keep their checks."""
    return _this_thread(engine, ("PRAGMA foreign_keys=OFF",), ("PRAGMA foreign_keys=ON",), on=on)


def sorting_in_files(engine: Engine, *, on: bool = True) -> ContextManager[None]:
    """On SQLite (and ``on``), the connections that *this thread* checks out of ``engine``'s pool meanwhile sort
    in temporary files (``temp_store=FILE``, :data:`SORTER_THREADS` helper threads) for the index builds of a bulk
    load (module docstring); each gets the store's usual in-memory temporary storage back when it returns to the
    pool. SQLite refuses to change ``temp_store`` inside a transaction once the connection has a temporary table,
    hence the pool's checkout; the change drops the connection's temporary tables (none lives across
    transactions here)."""
    return _this_thread(engine, _SQLITE_FILE_SORTER, _SQLITE_MEMORY_SORTER, on=on)


def _settings_back(dbapi_conn: Any, record: Any) -> None:
    """A connection back in the pool gets its usual settings again (its transaction has ended: the pool rolled
    back whatever was open); one that cannot is dropped from the pool."""
    backs = record.info.pop(_BACK, None)
    if not backs or dbapi_conn is None:
        return
    try:
        for pragma in backs:
            dbapi_conn.execute(pragma)
    except Exception as exc:  # never back into the pool with a bulk load's settings
        record.invalidate(exc)


LOCK_SUFFIX = "-bulkload"
"""The lock file beside a SQLite store (``store.db-bulkload``), as SQLite's own ``-wal`` and ``-shm``."""


def _lock_file(engine: Engine) -> int | None:
    """The store's lock file, open (a descriptor of its own: ``flock`` locks of two descriptors conflict even in
    one process); None for a store other processes cannot load (PostgreSQL, an in-memory one), one named by a
    ``file:`` URI, where there is no ``fcntl``, or when the file cannot be made (a read-only directory: no load can
    have locked it either)."""
    database = engine.url.database
    if fcntl is None or engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    try:
        return os.open(database + LOCK_SUFFIX, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None


@contextmanager
def bulk_lock(engine: Engine, *, on: bool = True) -> Iterator[None]:
    """On a SQLite store (and ``on``), a shared lock on its lock file meanwhile: the mark of a bulk load running,
    whose indexes nobody else builds (:func:`no_bulk_load`). Waits while someone builds them."""
    fd = _lock_file(engine) if on else None
    if fd is None:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # the lock goes with the descriptor


@contextmanager
def no_bulk_load(engine: Engine) -> Iterator[bool]:
    """Whether no bulk load runs on the store, in any process: True with the lock file held exclusively meanwhile
    (a load starting waits for the caller's repair), False while a load holds it. Always True where loads do not
    lock (PostgreSQL, in-memory stores)."""
    fd = _lock_file(engine)
    if fd is None:
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            free = False
        else:
            free = True
        yield free
    finally:
        os.close(fd)
