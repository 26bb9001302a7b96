"""Plain chunks' event rows staged by the parsing process, copied into the store by the writer with one
``INSERT ... SELECT``.

The writer (the process that holds the store's write lock, the import's bottleneck) paid about 3.8 µs of every
event's ~17 to bind the row's eleven values through ``executemany`` (200,000 rows of the events table's shape:
5.4-5.7 CPU-µs a row that way, 1.6 copied table to table). The parsing process
(:mod:`funnelbridge.ingest.parser`, on the other core and mostly idle) therefore also writes each plain chunk's
rows — everything the events table stores but the contact and ``received_at`` — into a file of its own through
the ADBC SQLite driver (C code ingesting a pyarrow table: about 1-2 µs a row), before it sends the chunk. The
writer attaches that file and stores the rows with ``INSERT INTO events ... SELECT`` from it, the contacts joined
from a temporary table ``position -> contact id`` filled from one JSON array (:func:`insert_staged`). A whole
import of 2,000,000 events (200,000 contacts; three rounds alternating with the binding code, load 10-14 on 2 CPUs):
writer 33.9 vs 43.4 CPU s median (-4.7 µs an event, 0.78x), parsing process 15.2 vs 12.0 (+1.6 µs), same store.

What crosses the pipe is unchanged (the writer still needs the keys, times, identifiers; rows held back by
:mod:`~funnelbridge.ingest.firstkeys` or redone the looked-up way need them all): a staged chunk's columns arrive
as :class:`StagedColumns`, which name the file. Whatever picks rows out of them (:func:`staged_subset`) keeps the
file and the rows' positions in it; anything that builds new columns gets a plain list and goes through
``executemany`` as before — so exactly the rows the plain lane would insert are inserted, in its order, with its
texts.

Files and locking: one file a chunk (``<n>.db``, journal off), written and closed by the parsing process before the
chunk is pickled, read afterwards by the writer only, and deleted when the next chunk arrives; so the two processes
never touch a file at the same time and no WAL or lock is involved. The directory holds the chunks the parsing
process is ahead by: at the import's 50,000 events a chunk (a pickle of megabytes, more than the pipe's buffer)
three files of about 5 MB at most; with small chunks as many as the pipe buffers. The directory is made by the
writer (:func:`stage_area`) and removed when the import ends, however it ends; one that an import killed by SIGKILL
left in the system's temporary directory is removed by the next import (:func:`sweep_stale`: its process is gone).
ADBC's SQLite library is loaded in the parsing process only: two SQLite libraries in one process on the same file
break POSIX locking (sqlite.org/howtocorrupt.html §2.2.1); the writer's own ``sqlite3`` attaches the file read-only
(a URI with ``mode=ro``) at pool checkout — ``ATTACH`` cannot run inside a transaction — and detaches it at checkin,
as :func:`~funnelbridge.store.bulkload.unchecked_foreign_keys` sets its pragma.

Anything that fails on the staging side (no ADBC, a value pyarrow will not take as text, a file that cannot be
written, attached or that does not hold the chunk's rows) sends that chunk the ``executemany`` way: the rows are
still in the pickle.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    bindparam,
    column,
    event,
    literal_column,
    select,
    table,
    text,
    true,
)

from funnelbridge.store.events import insert_sqlite_events_from

__all__ = [
    "STAGED",
    "StageArea",
    "StagedColumns",
    "Stager",
    "insert_staged",
    "stage_area",
    "staged_subset",
    "sweep_stale",
]

STAGED = ("idempotency_key", "anonymous_id", "type", "occurred_at", "path", "campaign", "source", "medium",
          "properties")  # fmt: skip
"""The columns of a staged chunk's table (``rows``): the events' own, as the plain lane binds them (the time as
SQLite text, the properties as JSON text)."""

_SCHEMA = "fb_stage"  # the attached file's name in the writer's connection
_ATTACHED = "funnelbridge_stage"
_PREFIX = "funnelbridge-stage-"  # + the importing process's id + "-" + mkdtemp's random part
_PRAGMAS = ("PRAGMA journal_mode=OFF", "PRAGMA synchronous=OFF")  # a scratch file: nothing to recover

_rows = table("rows", *map(column, STAGED), column("rowid"), schema=_SCHEMA).alias("s")
_ids = table("fb_ids", column("seq"), column("n"), column("contact_id"), schema="temp").alias("i")
_SELECTED: tuple[Any, ...] = (
    _rows.c.idempotency_key, _ids.c.contact_id, _rows.c.anonymous_id, _rows.c.type, _rows.c.occurred_at,
    bindparam("received_at"), _rows.c.path, _rows.c.campaign, _rows.c.source, _rows.c.medium, _rows.c.properties,
)  # fmt: skip
_COPY = (
    select(*_SELECTED)
    .select_from(_ids.join(_rows, _rows.c.rowid == _ids.c.n))
    .where(true())  # INSERT ... SELECT ... ON CONFLICT needs a WHERE (else ON parses as a join's)
    .order_by(_ids.c.seq)
)
"""The events of the staged rows listed in ``temp.fb_ids`` (``seq`` their order, ``n`` their rowid in the file),
in that order: the temporary table is scanned by ``seq`` and each row looked up by rowid (no sort)."""
_S: dict[str, ColumnElement[Any]] = {name: literal_column(f"s.{name}") for name in STAGED}
_ALL = (
    select(
        *(_S[n] for n in STAGED[:1]),
        literal_column("j.value"),
        *(_S[n] for n in STAGED[1:4]),
        bindparam("received_at"),
        *(_S[n] for n in STAGED[4:]),
    )
    .select_from(text(f"json_each(:ids) AS j CROSS JOIN {_SCHEMA}.rows AS s"))
    .where(literal_column("s.rowid") == literal_column("j.key") + literal_column("1"))
)
"""Every staged row with its contact id from one JSON array (its ``key``: the row's position), in the array's
order without a temporary table: ``CROSS JOIN`` makes SQLite loop over ``json_each`` outside and look each row up
by rowid inside (SQLite's documented manual join order), so the rows come — and get their ids — in array order, no
sort. Filling and clearing ``temp.fb_ids`` for 50,000 rows cost ~15 ms a chunk, this ~6 (load 5)."""
_IDS_TABLE = "CREATE TEMP TABLE IF NOT EXISTS fb_ids (seq INTEGER PRIMARY KEY, n INTEGER NOT NULL, contact_id INTEGER)"
_IDS_CLEAR = "DELETE FROM temp.fb_ids"
_IDS_AT = ("INSERT INTO temp.fb_ids (seq, n, contact_id) "
           "SELECT key, json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)")  # fmt: skip
_SIZE = "SELECT max(rowid) FROM fb_stage.rows"
_FILES = "PRAGMA database_list"


class StagedColumns(list[Any]):
    """A plain chunk's columns whose rows are also in a staging file: ``file`` its path, ``size`` how many rows the
    parsing process wrote there and ``rows`` the rowids of these columns' rows in it (None: all, 1 to ``size``)."""

    __slots__ = ("file", "rows", "size")

    def __init__(self, columns: Sequence[Any], file: str, size: int, rows: list[int] | None = None) -> None:
        super().__init__(columns)
        self.file, self.size, self.rows = file, size, rows


def staged_subset(columns: Sequence[Any], keep: Sequence[int], picked: list[Any]) -> list[Any]:
    """``picked`` (the rows ``keep`` of ``columns``) as :class:`StagedColumns` of the same file when ``columns``
    are, else as they are."""
    if not isinstance(columns, StagedColumns):
        return picked
    at = columns.rows
    rows = [i + 1 for i in keep] if at is None else list(map(at.__getitem__, keep))
    return StagedColumns(picked, columns.file, columns.size, rows)


def insert_staged(conn: Connection, columns: Sequence[Any], contact_ids: list[int], received_at: str) -> int | None:
    """Insert the events of ``columns`` from their staging file (``contact_ids`` theirs, row by row) the way
    :func:`~funnelbridge.store.events.insert_sqlite_event_params` would; how many were inserted, or None when
    they are not staged or the file is not attached to ``conn`` as it was written (the caller binds them)."""
    if not isinstance(columns, StagedColumns) or not _attached(conn, columns):
        return None
    if columns.rows is None:
        return insert_sqlite_events_from(conn, _ALL, (received_at, json.dumps(contact_ids)))
    conn.exec_driver_sql(_IDS_TABLE)
    conn.exec_driver_sql(_IDS_CLEAR)
    conn.exec_driver_sql(_IDS_AT, (json.dumps(list(zip(columns.rows, contact_ids, strict=True))),))
    return insert_sqlite_events_from(conn, _COPY, (received_at,))


def _attached(conn: Connection, columns: StagedColumns) -> bool:
    """Whether ``columns``' file is the one attached to ``conn`` and holds the rows the parsing process wrote."""
    if conn.dialect.name != "sqlite":
        return False
    files = {name: file for _, name, file in conn.exec_driver_sql(_FILES)}
    if not files.get(_SCHEMA) or not os.path.samefile(files[_SCHEMA], columns.file):
        return False
    return bool(conn.exec_driver_sql(_SIZE).scalar() == columns.size)


class StageArea:
    """The writer's side of an import's staging: the directory, and the file attached to the connections this
    thread checks out (:attr:`current`, the chunk being stored)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.current: str | None = None

    def arrived(self, columns: Sequence[Any]) -> None:
        """A chunk arrived: the previous one is stored (its file is deleted); ``columns``' file, if any, is
        attached from now on."""
        if self.current is not None:
            Path(self.current).unlink(missing_ok=True)
        self.current = columns.file if isinstance(columns, StagedColumns) else None

    def attach(self, dbapi_conn: Any) -> bool:
        """Attach :attr:`current` read-only to a connection just checked out; whether it did."""
        if self.current is None:
            return False
        try:
            dbapi_conn.execute("ATTACH DATABASE ? AS fb_stage", (Path(self.current).as_uri() + "?mode=ro",))
        except sqlite3.Error:  # no URI support, a missing file: the chunk is bound the usual way
            return False
        return True


@contextmanager
def stage_area(engine: Engine | None) -> Iterator[StageArea | None]:
    """For the calling thread's connections of ``engine`` (SQLite), a staging directory (removed at the end) whose
    current file is attached at checkout and detached at checkin; None elsewhere."""
    if engine is None or engine.dialect.name != "sqlite":
        yield None
        return
    sweep_stale(Path(tempfile.gettempdir()))
    area = StageArea(Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-")))
    owner = threading.get_ident()

    def checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if threading.get_ident() == owner and area.attach(dbapi_conn):
            record.info[_ATTACHED] = True

    if not event.contains(engine, "checkin", _detach):  # stays: a connection may come back after the end
        event.listen(engine, "checkin", _detach)
    event.listen(engine, "checkout", checkout)
    try:
        yield area
    finally:
        event.remove(engine, "checkout", checkout)
        area.current = None
        shutil.rmtree(area.directory, ignore_errors=True)


def sweep_stale(directory: Path) -> list[Path]:
    """Remove the staging directories in ``directory`` whose importing process is gone (killed: it could not remove
    its own); the ones removed. A directory is named after its process's id; one whose id is alive stays."""
    removed = []
    for path in directory.glob(f"{_PREFIX}*-*"):
        pid = path.name[len(_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def _detach(dbapi_conn: Any, record: Any) -> None:
    """A connection back in the pool (its transaction ended) detaches its staging file; one that cannot is
    dropped from the pool."""
    if not record.info.pop(_ATTACHED, False) or dbapi_conn is None:
        return
    try:
        dbapi_conn.execute("DETACH DATABASE fb_stage")
    except Exception as exc:  # never back into the pool with a file attached
        record.invalidate(exc)


class Stager:
    """The parsing process's side: writes each plain chunk's rows (columns in :data:`STAGED` order) into a new file
    of the writer's ``directory`` through ADBC (imported here only: never in the writer)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.written = 0
        self.off = False  # ADBC missing: stage nothing more

    def stage(self, columns: Sequence[Sequence[Any]]) -> str | None:
        """The file now holding ``columns``' rows (table ``rows``, rowids 1, 2, ... in order), or None when they
        could not be written (the writer binds them)."""
        if self.off:
            return None
        self.written += 1
        path = self.directory / f"{self.written}.db"
        try:
            _write(path, columns)
        except ImportError:
            self.off = True
            return None
        except Exception:  # e.g. a value that is not text; the chunk goes the usual way
            path.unlink(missing_ok=True)
            return None
        return str(path)


def _write(path: Path, columns: Sequence[Sequence[Any]]) -> None:
    import pyarrow as pa
    from adbc_driver_sqlite import dbapi

    rows = pa.table([pa.array(values, pa.string()) for values in columns], names=list(STAGED))
    with dbapi.connect(str(path), autocommit=True) as conn, conn.cursor() as cursor:
        for pragma in _PRAGMAS:
            cursor.execute(pragma)
        cursor.execute("BEGIN")
        cursor.adbc_ingest("rows", rows, mode="create")
        cursor.execute("COMMIT")
