"""Dialect-aware bulk helpers for repositories: ``INSERT ... ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL,
and key look-ups in batches small enough for any driver's parameter limit."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from itertools import islice
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import Column, Connection, Select, String, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.compiler import SQLCompiler
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
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def lookup(conn: Connection, key: Column[Any], value: Column[Any], keys: Iterable[Any]) -> dict[Any, Any]:
    """``{key: value}`` for the rows whose ``key`` column is one of ``keys`` (None keys are skipped)."""
    wanted = {k for k in keys if k is not None}
    found: dict[Any, Any] = {}
    for chunk in batched(sorted(wanted), LOOKUP_BATCH):
        if conn.dialect.name == "sqlite" and isinstance(chunk[0], str | int):
            rows = conn.execute(_json_lookup(key, value), {"among": json.dumps(chunk)})
        else:
            rows = conn.execute(select(key, value).where(key.in_(chunk)))
        found.update({k: v for k, v in rows})
    return found


@cache  # built once per column pair: only the JSON parameter changes between calls
def _json_lookup(key: Column[Any], value: Column[Any]) -> Select[Any]:
    """On SQLite, ``key IN (...)`` as one JSON-array parameter (``json_each``), which spares SQLAlchemy rendering
    thousands of bound parameters per query."""
    values = func.json_each(bindparam("among", type_=String)).table_valued("value")
    return select(key, value).where(key.in_(select(values.c.value)))


def sqlite_time(value: datetime) -> str:
    """A timestamp as SQLAlchemy's SQLite DATETIME stores it: naive UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    if value.tzinfo is not None and value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]  # drops a "+00:00" suffix


def _kind_at(rows: Sequence[Mapping[str, Any]], name: str) -> type | None:
    """The type of the first non-None value of parameter ``name`` (rows of one statement share types)."""
    for row in rows:
        value = row.get(name)
        if value is not None:
            return type(value)
    return None


def _sqlite_params(rows: Sequence[Mapping[str, Any]], names: list[str], defaults: Mapping[str, Any]) -> list[Any]:
    consts = {n: defaults[n] for n in names if n not in rows[0]}
    kinds = {n: _kind_at(rows, n) if n not in consts else type(consts[n]) for n in names}
    times = [i for i, n in enumerate(names) if kinds[n] is not None and issubclass(kinds[n], datetime)]  # type: ignore[arg-type]
    docs = [i for i, n in enumerate(names) if kinds[n] in (dict, list)]
    get = itemgetter(*names)
    seen: dict[datetime, str] = {}
    out: list[tuple[Any, ...]] = []
    for row in rows:
        got = get({**consts, **row} if consts else row)
        values = list(got) if len(names) > 1 else [got]
        for i in times:
            value = values[i]
            if value is not None:
                text = seen.get(value)
                values[i] = text if text is not None else seen.setdefault(value, sqlite_time(value))
        for i in docs:
            if values[i] is not None:
                values[i] = json.dumps(values[i])
        out.append(tuple(values))
    return out


_COMPILED: dict[tuple[int, str, tuple[str, ...]], tuple[UpdateBase, SQLCompiler]] = {}
_COMPILED_MAX = 256


def _compiled(conn: Connection, stmt: UpdateBase, keys: tuple[str, ...]) -> SQLCompiler:
    """``stmt`` compiled for these parameter names; remembered while the same statement object is reused (so
    statements built once, e.g. module-level or cached, compile once; the entry keeps ``stmt`` alive so its id
    cannot be reused)."""
    key = (id(stmt), conn.dialect.name, keys)
    hit = _COMPILED.get(key)
    if hit is not None and hit[0] is stmt:
        return hit[1]
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(keys))
    if len(_COMPILED) >= _COMPILED_MAX:
        _COMPILED.clear()
    _COMPILED[key] = (stmt, compiled)
    return compiled


def execute_many(conn: Connection, stmt: UpdateBase, rows: Sequence[Mapping[str, Any]]) -> None:
    """``executemany`` of a Core statement over ``rows`` (dicts of its bind parameters, same keys each).

    On SQLite the statement is compiled once and run over plain lists, with datetimes formatted and JSON dumped
    as the column types do — SQLAlchemy's per-row parameter processing otherwise dominates bulk writes. Only
    for statements whose datetime parameters are UTC timestamps and whose dict/list parameters are JSON."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(stmt, list(rows))
        return
    compiled = _compiled(conn, stmt, tuple(rows[0]))
    names = list(compiled.positiontup or ())
    conn.exec_driver_sql(compiled.string, _sqlite_params(rows, names, compiled.params))  # type: ignore[arg-type]
