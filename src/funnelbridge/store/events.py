"""Repository: events (activities) — append-only facts with unique idempotency keys. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select, update

from funnelbridge.store.bulk import batched, insert_ignore
from funnelbridge.store.tables import events

__all__ = ["EVENT_COLUMNS", "event_ids_of", "insert_events", "move_event_ids"]

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


def insert_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert events, skipping any whose idempotency key is already stored. Returns how many were inserted."""
    if not rows:
        return 0
    stmt = insert_ignore(conn, events, ["idempotency_key"])
    if conn.dialect.name == "sqlite":  # sqlite3's executemany reports the rows it changed
        return int(conn.execute(stmt, list(rows)).rowcount)
    return len(conn.execute(stmt.returning(events.c.id), list(rows)).all())  # psycopg's rowcount is -1 here


def event_ids_of(conn: Connection, contact_id: int) -> list[int]:
    return list(conn.execute(select(events.c.id).where(events.c.contact_id == contact_id)).scalars())


def move_event_ids(conn: Connection, event_ids: Sequence[int], contact_id: int) -> None:
    """Attach the given events to ``contact_id``."""
    for chunk in batched(event_ids, 5000):
        conn.execute(update(events).where(events.c.id.in_(chunk)).values(contact_id=contact_id))
