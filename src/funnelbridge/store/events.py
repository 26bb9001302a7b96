"""Repository: events (activities) — append-only facts with unique idempotency keys. Never commits.

Bulk inserts on SQLite take a fast path: the Core ``INSERT ... ON CONFLICT DO NOTHING`` is compiled once and run
with ``executemany`` over plain tuples, with timestamps and JSON converted exactly as the column types would
(UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``; ``json.dumps``) — per-row parameter processing in SQLAlchemy otherwise
costs more than the insert itself. A test checks both paths store identical rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Insert, Select, bindparam, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from funnelbridge.store.bulk import batched, insert_ignore, sqlite_time
from funnelbridge.store.bulkload import unique_deferred
from funnelbridge.store.tables import events

__all__ = [
    "EVENT_COLUMNS",
    "event_ids_of",
    "insert_event_tuples",
    "insert_events",
    "insert_sqlite_event_params",
    "insert_sqlite_events_from",
    "move_event_ids",
]

EVENT_COLUMNS = (
    "idempotency_key",
    "contact_id",
    "anonymous_id",
    "type",
    "occurred_at",
    "received_at",
    "path",
    "campaign",
    "source",
    "medium",
    "properties",
)
"""The columns every row given to :func:`insert_events` must have."""

_SQLITE_SQL: dict[str, str] = {}
_SQLITE_FROM: dict[tuple[Select[Any], bool], str] = {}  # keyed by the statement itself: kept alive, never confused


def _sqlite_time(value: datetime | None) -> str | None:
    return None if value is None else sqlite_time(value)


def _sqlite_sql(conn: Connection) -> str:
    """The insert; under a first bulk load with the key's unique index dropped (``store.bulkload.defer_unique``)
    one that names no conflict target (there is none to name; the load keeps its rows unique itself)."""
    deferred = unique_deferred(conn)
    sql = _SQLITE_SQL.get("any" if deferred else "insert")
    if sql is None:
        stmt: Insert
        if deferred:
            stmt = sqlite_insert(events).on_conflict_do_nothing()
        else:
            stmt = insert_ignore(conn, events, ["idempotency_key"])
        compiled = stmt.values({c: None for c in EVENT_COLUMNS}).compile(dialect=conn.dialect)
        assert list(compiled.positiontup or ()) == list(EVENT_COLUMNS), compiled.positiontup
        sql = _SQLITE_SQL.setdefault("any" if deferred else "insert", compiled.string)
    return sql


def _sqlite_insert(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    sql = _sqlite_sql(conn)
    dumps = json.dumps
    received: dict[datetime, str | None] = {}  # received_at is one value per batch: format it once
    params = [
        (
            r["idempotency_key"],
            r["contact_id"],
            r["anonymous_id"],
            r["type"],
            _sqlite_time(r["occurred_at"]),
            received.get(r["received_at"]) or received.setdefault(r["received_at"], _sqlite_time(r["received_at"])),
            r["path"],
            r["campaign"],
            r["source"],
            r["medium"],
            None if r["properties"] is None else dumps(r["properties"]),
        )
        for r in rows
    ]
    return int(conn.exec_driver_sql(sql, params).rowcount)  # type: ignore[arg-type]


def insert_events(conn: Connection, rows: Sequence[dict[str, Any]], *, fast: bool = True) -> int:
    """Insert events, skipping any whose idempotency key is already stored. Returns how many were inserted."""
    if not rows:
        return 0
    if conn.dialect.name == "sqlite":
        if fast:
            return _sqlite_insert(conn, rows)
        return int(conn.execute(insert_ignore(conn, events, ["idempotency_key"]), list(rows)).rowcount)
    stmt = insert_ignore(conn, events, ["idempotency_key"]).returning(events.c.id)
    return len(conn.execute(stmt, list(rows)).all())  # psycopg's executemany rowcount is -1


def insert_event_tuples(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """:func:`insert_events` for rows given as tuples in :data:`EVENT_COLUMNS` order (bulk imports build them
    column-wise; on SQLite they go to ``executemany`` with only times and JSON converted)."""
    if not rows:
        return 0
    if conn.dialect.name != "sqlite":
        return insert_events(conn, [dict(zip(EVENT_COLUMNS, row, strict=True)) for row in rows])
    dumps, stamp = json.dumps, sqlite_time
    received: dict[datetime, str] = {}
    params = [
        (*row[:4], stamp(row[4]), received.get(row[5]) or received.setdefault(row[5], stamp(row[5])), *row[6:10],
         None if row[10] is None else dumps(row[10]))
        for row in rows
    ]  # fmt: skip
    return insert_sqlite_event_params(conn, params)


def insert_sqlite_event_params(conn: Connection, params: Sequence[tuple[Any, ...]]) -> int:
    """SQLite only: insert events given as driver parameters in :data:`EVENT_COLUMNS` order — times already as
    :func:`~funnelbridge.store.bulk.sqlite_time` text, properties as JSON text or None — skipping stored keys."""
    if not params:
        return 0
    return int(conn.exec_driver_sql(_sqlite_sql(conn), params).rowcount)  # type: ignore[arg-type]


def insert_sqlite_events_from(conn: Connection, query: Select[Any], params: tuple[Any, ...] = ()) -> int:
    """SQLite only: insert the events a ``query`` selects (a constant statement: compiled once; its columns in
    :data:`EVENT_COLUMNS` order; ``params`` its positional parameters), skipping stored keys in the same two forms
    as the ``executemany`` insert (no conflict target while the unique index is deferred)."""
    deferred = unique_deferred(conn)
    sql = _SQLITE_FROM.get((query, deferred))
    if sql is None:
        stmt = sqlite_insert(events).from_select(list(EVENT_COLUMNS), query)
        stmt = stmt.on_conflict_do_nothing() if deferred else stmt.on_conflict_do_nothing(["idempotency_key"])
        sql = _SQLITE_FROM.setdefault((query, deferred), str(stmt.compile(dialect=conn.dialect)))
    return int(conn.exec_driver_sql(sql, params).rowcount)


def event_ids_of(conn: Connection, contact_id: int) -> list[int]:
    return list(conn.execute(_IDS_OF, {"contact_id": contact_id}).scalars())


def move_event_ids(conn: Connection, event_ids: Sequence[int], contact_id: int) -> None:
    """Attach the given events to ``contact_id``."""
    for chunk in batched(event_ids, 5000):
        conn.execute(_MOVE, {"ids": chunk, "to": contact_id})


# built once: a statement object used again skips its construction and cache-key computation (merges run these)
_IDS_OF = select(events.c.id).where(events.c.contact_id == bindparam("contact_id"))
_MOVE = update(events).where(events.c.id.in_(bindparam("ids", expanding=True))).values(contact_id=bindparam("to"))
