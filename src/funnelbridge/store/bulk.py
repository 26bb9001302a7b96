"""Dialect-aware bulk helpers for repositories: ``INSERT ... ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL,
and key look-ups in batches small enough for any driver's parameter limit."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Column, Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert, UpdateBase

__all__ = ["LOOKUP_BATCH", "batched", "execute_many", "insert_ignore", "lookup", "sqlite_time"]

LOOKUP_BATCH = 5000
T = TypeVar("T")


def insert_ignore(conn: Connection, table: Table, index_elements: Sequence[str]) -> Insert:
    """An INSERT that silently skips rows clashing on the unique ``index_elements``."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(index_elements))
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(index_elements))


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most ``size`` items."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def lookup(conn: Connection, key: Column[Any], value: Column[Any], keys: Iterable[Any]) -> dict[Any, Any]:
    """``{key: value}`` for the rows whose ``key`` column is one of ``keys`` (None keys are skipped)."""
    wanted = {k for k in keys if k is not None}
    found: dict[Any, Any] = {}
    for chunk in batched(sorted(wanted), LOOKUP_BATCH):
        found.update({k: v for k, v in conn.execute(select(key, value).where(key.in_(chunk)))})
    return found


def sqlite_time(value: datetime) -> str:
    """A timestamp as SQLAlchemy's SQLite DATETIME stores it: naive UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def _sqlite_value(value: Any, seen: dict[datetime, str]) -> Any:
    if isinstance(value, datetime):
        text = seen.get(value)
        if text is None:
            text = seen[value] = sqlite_time(value)
        return text
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


def execute_many(conn: Connection, stmt: UpdateBase, rows: Sequence[Mapping[str, Any]]) -> None:
    """``executemany`` of a Core statement over ``rows`` (dicts of its bind parameters).

    On SQLite the statement is compiled once and run over plain tuples, with datetimes formatted and JSON dumped
    as the column types do — SQLAlchemy's per-row parameter processing otherwise dominates bulk writes. Only
    for statements whose datetime parameters are UTC timestamps and whose dict/list parameters are JSON."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(stmt, list(rows))
        return
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(rows[0]))
    names = list(compiled.positiontup or ())
    defaults = compiled.params
    seen: dict[datetime, str] = {}
    params = [tuple(_sqlite_value(row[n] if n in row else defaults[n], seen) for n in names) for row in rows]
    conn.exec_driver_sql(compiled.string, params)  # type: ignore[arg-type]
