"""Engines and transactions. Repositories take a Connection and never commit; the service layer owns the
transaction through :meth:`Database.transaction`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from funnelbridge.errors import ConfigError, StoreBusyError, StoreError

__all__ = ["SQLITE_PAGE_SIZE", "SQLITE_WAL_LIMIT", "Database", "connect", "normalize_url"]

SQLITE_PAGE_SIZE = 16_384
"""Page size of a *new* SQLite store (bytes; SQLite's default is 4,096). Set before ``journal_mode=WAL``, which writes
the new file's header; an existing store keeps its own (WAL mode cannot change it: the pragma is a no-op). Why: every
page SQLite moves costs system calls of ~4 µs each here (Linux, ext4, a VM) — a WAL frame is two ``pwrite``s, its
checkpoint a ``pread`` and a ``pwrite`` — so a bulk load's commits were ~85 % system time (``strace -c`` of a writer
storing 2,000,000 events: 591k ``pwrite``, 476k ``pread``, 124 ``fdatasync`` for 0.19 s). 16 KiB pages move the same
bytes in a quarter of the calls. Real imports of 2,000,000 events into a store holding 1,000,000 contacts (its 4 KiB
template against one made by this code, the same CSV files; fresh processes, alternating, load 3.4–5.9 on 2 shared
CPUs; both with the index builds' small sorter cache of :mod:`~funnelbridge.store.bulkload`, which alone, on the 4 KiB
store, measured 24.4 / 26.1): writer 21.5 / 22.8 against 26.2 / 24.4 CPU s, its 41 commits 0.86 / 0.92 against 2.50 /
2.07, the index builds 5.3 / 5.7 against 6.1 / 5.7. At the issue's size (10,000,000 events, the same stores, 3 rounds
alternating, load 1.1–1.4): the 201 commits 4.4 / 4.4 / 4.8 against 8.0 / 7.4 / 8.4 CPU s, system time 7.6 / 8.1 / 8.7
against 12.0 / 11.1 / 12.4, peak RSS 958 against 1,430 MiB; the writer's total 85.1 / 87.3 / 102.6 against 93.8 / 84.9
/ 98.3 (user time varied by ±10 s run to run: no total shown). Durability is the same (WAL, ``synchronous=NORMAL``,
checksummed frames); a small write transaction writes whole 16 KiB pages to the WAL."""

SQLITE_WAL_LIMIT = 67_108_864
"""Bytes a SQLite store's write-ahead log is cut back to once it has been checkpointed (``journal_size_limit``: 64
MiB). SQLite reuses the log from its start after a checkpoint but never shrinks the file: one large transaction — a
bulk load's index builds write ~1.4 GB at 10,000,000 events — left that much on disk for as long as a connection
stayed open. With the limit the next write transaction's commit truncates it; a log that stays under it is untouched
(the import's chunks write less than that each)."""

_SQLITE_PRAGMAS = (
    "PRAGMA page_size=16384",  # constant text: SQLITE_PAGE_SIZE; first (a new file's header)
    "PRAGMA journal_mode=WAL",
    "PRAGMA journal_size_limit=67108864",  # constant text: SQLITE_WAL_LIMIT
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-65536",
)


def normalize_url(url: str) -> str:
    """Pick the driver we ship (psycopg 3) for ``postgresql://`` URLs."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError(f"database URL {url!r} is not valid: {exc}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN drive transactions
    cursor = dbapi_conn.cursor()
    for pragma in _SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


_WRITE = "funnelbridge_write"


def _on_sqlite_begin(conn: Connection) -> None:
    # A write transaction takes the write lock up front (BEGIN IMMEDIATE): concurrent writers queue on
    # busy_timeout instead of failing with "database is locked" when a read transaction upgrades to a write.
    # Read-only connections (Database.read) begin deferred, so readers never wait for the write lock.
    write = conn.get_execution_options().get(_WRITE, True)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


_NO_UNIQUE_TARGET = "ON CONFLICT clause does not match any PRIMARY KEY or UNIQUE constraint"


def _store_error(engine: Engine, exc: OperationalError) -> StoreError:
    """The error for a failed transaction. An insert whose conflict target names a unique index that a first bulk
    load dropped meanwhile (:func:`funnelbridge.store.bulkload.defer_unique`; it builds it again at its end) is a
    :class:`~funnelbridge.errors.StoreBusyError`: retrying later succeeds (a killed load's index is built by
    :meth:`Database.transaction` at once)."""
    where = engine.url.render_as_string()
    if _NO_UNIQUE_TARGET in str(exc.orig):
        return StoreBusyError(
            f"database {where} cannot take this write yet: a bulk load is building the unique key index it needs "
            "(retry later)",
            retry_after=_BUILDING_RETRY_S,
        )
    return StoreError(f"database error on {where}: {exc.orig}")


_BUILDING_RETRY_S = 60
"""Retry-After of a write refused during a bulk load (a 10M-event load takes minutes; its index build ~30 s)."""


@dataclass(frozen=True)
class Database:
    """A store: one SQLAlchemy engine plus the dialect facts the repositories need.

    On SQLite, write transactions of this process queue on an in-process lock before they ask SQLite for its
    write lock: threads then take turns at once instead of sleeping in SQLite's busy handler (which backs off up
    to 100 ms a try and made request latency spiky under load). Other processes still wait on ``busy_timeout``.
    """

    engine: Engine
    _writer: threading.RLock = field(default_factory=threading.RLock, compare=False, repr=False)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One unit of work: commits on success, rolls back on any exception."""
        try:
            with self._writer if self.is_sqlite else nullcontext(), self.engine.begin() as conn:
                yield conn
        except OperationalError as exc:
            if _NO_UNIQUE_TARGET in str(exc.orig) and self._rebuilt_after_a_killed_load():
                raise StoreBusyError(
                    f"database {self.engine.url.render_as_string()} could not take this write: a bulk load killed "
                    "earlier had left its unique key index missing, built again now (retry)",
                    retry_after=1,
                ) from exc
            raise _store_error(self.engine, exc) from exc

    def _rebuilt_after_a_killed_load(self) -> bool:
        """After a write refused for want of the unique key index: when no bulk load runs (one was killed), build
        the missing indexes now (:func:`~funnelbridge.store.migrate.restore_missing_indexes`); whether it did."""
        from funnelbridge.store.migrate import restore_missing_indexes  # migrate builds on this module

        return bool(restore_missing_indexes(self))

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection (no commit; on SQLite it does not take the write lock)."""
        with self.engine.connect().execution_options(**{_WRITE: False}) as conn:
            yield conn

    def table_names(self) -> list[str]:
        return inspect(self.engine).get_table_names()

    def dispose(self) -> None:
        self.engine.dispose()


def connect(url: str, *, echo: bool = False, schema: str | None = None) -> Database:
    """Open a store. SQLite gets WAL and sensible pragmas; PostgreSQL uses psycopg 3 (``schema`` sets its
    search_path, which keeps concurrent test runs apart)."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
    else:
        args = {"options": f"-csearch_path={schema}"} if schema else {}
        engine = create_engine(url, echo=echo, pool_pre_ping=True, connect_args=args)
    return Database(engine)
