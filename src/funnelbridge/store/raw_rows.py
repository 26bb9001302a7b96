"""Hot-path reads on SQLite without SQLAlchemy's per-row result machinery.

:func:`rows` runs a Core ``SELECT`` (compiled once per statement object) on the driver's cursor and converts each
column as SQLAlchemy's result processing would — its own processor for every column type, except ``UTCDateTime``,
whose two stacked processors (parse the text, then mark it UTC) become one ``datetime.fromisoformat``. The rows are
plain tuples in the statement's column order. On other dialects it is ``conn.execute`` (rows as tuples).

For the activity flow's reads of many leads at once (contacts, scores, events, pipeline states): there the
``Row`` objects, ``fetchone`` per row and the stacked type processors cost several times what SQLite does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Select
from sqlalchemy.engine import Dialect

from funnelbridge.store.types import UTCDateTime

__all__ = ["rows", "utc_time"]

Converter = Callable[[Any], Any]
_fromiso = datetime.fromisoformat


def utc_time(value: Any) -> datetime | None:
    """A stored SQLite timestamp (naive UTC text, ``YYYY-MM-DD HH:MM:SS.ffffff``) as an aware UTC datetime — what
    ``UTCDateTime`` reads."""
    if value is None:
        return None
    stamp = _fromiso(value) if isinstance(value, str) else value
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


_Compiled = tuple[str, tuple[str, ...], dict[str, Any], tuple[Converter | None, ...]]
_COMPILED: dict[tuple[int, str], tuple[Select[Any], _Compiled]] = {}
_COMPILED_MAX = 128


def _converter(type_: Any, dialect: Dialect) -> Converter | None:
    if isinstance(type_, UTCDateTime):
        return utc_time
    processor: Converter | None = type_._cached_result_processor(dialect, None)
    return processor


def _compiled(conn: Connection, stmt: Select[Any]) -> _Compiled:
    """SQL text, positional parameter names, the statement's own parameter values (literals it binds) and column
    converters of ``stmt``; remembered while the same statement object is reused (the entry keeps it alive, so its
    id is not reused)."""
    key = (id(stmt), conn.dialect.name)
    hit = _COMPILED.get(key)
    if hit is not None and hit[0] is stmt:
        return hit[1]
    compiled = stmt.compile(dialect=conn.dialect)
    names = tuple(compiled.positiontup or ())
    converters = tuple(_converter(c.type, conn.dialect) for c in stmt.selected_columns)
    if len(_COMPILED) >= _COMPILED_MAX:
        _COMPILED.clear()
    made = (compiled.string, names, dict(compiled.params), converters)
    _COMPILED[key] = (stmt, made)
    return made


def rows(conn: Connection, stmt: Select[Any], params: Mapping[str, Any] | None = None) -> Sequence[tuple[Any, ...]]:
    """The rows of ``stmt`` as tuples, values as SQLAlchemy would give them (see the module docstring). On SQLite
    ``stmt``'s parameters must be plain (no expanding ``IN``; pass a JSON list and ``json_each`` instead) and
    given in ``params`` by name as the driver takes them (no bind processing: text, numbers)."""
    if conn.dialect.name != "sqlite":
        return [tuple(r) for r in conn.execute(stmt, dict(params or {}))]
    sql, names, defaults, converters = _compiled(conn, stmt)
    given = {**defaults, **params} if params else defaults
    cursor = conn.connection.driver_connection.execute(sql, tuple(given[n] for n in names))  # type: ignore[union-attr]
    found: list[tuple[Any, ...]] = cursor.fetchall()
    used = [(i, f) for i, f in enumerate(converters) if f is not None]
    if not used or not found:
        return found
    out = []
    for r in found:
        values = list(r)
        for i, f in used:
            v = values[i]
            if v is not None:
                values[i] = f(v)
        out.append(tuple(values))
    return out
