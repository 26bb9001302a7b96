"""Migration 0008 turns the events' UNIQUE (idempotency_key) constraint into a unique index of the same name (a
first bulk load can drop an index, not SQLite's constraint): a store at 0007 with events keeps them all, and
``ON CONFLICT (idempotency_key)`` skips a stored key before and after, on SQLite and PostgreSQL; downgrade
restores the constraint."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect

from funnelbridge.store import Database
from funnelbridge.store.events import insert_events
from funnelbridge.store.migrate import current_revision, downgrade, upgrade

AT = datetime(2026, 3, 1, 9, tzinfo=UTC)
NAME = "uq_events_idempotency_key"


def _rows(keys: range) -> list[dict[str, Any]]:
    return [{"idempotency_key": f"k{i}", "contact_id": None, "anonymous_id": f"a{i % 3}", "type": "page_view",
             "occurred_at": AT, "received_at": AT, "path": "/", "campaign": None, "source": None, "medium": None,
             "properties": None} for i in keys]  # fmt: skip


def _schema(db: Database) -> tuple[set[str], set[str]]:
    """(unique indexes, unique constraints) of the events table."""
    with db.read() as conn:
        found = inspect(conn)
        indexes = {str(ix["name"]) for ix in found.get_indexes("events") if ix["unique"]}
        constraints = {str(uq["name"]) for uq in found.get_unique_constraints("events")}
    return indexes, constraints


def _keys(db: Database) -> list[str]:
    with db.read() as conn:
        return list(conn.exec_driver_sql("SELECT idempotency_key FROM events ORDER BY id").scalars())


def test_upgrade_from_0007_keeps_events_and_makes_the_key_a_unique_index(db: Database) -> None:
    downgrade(db, "0007")
    assert NAME in _schema(db)[1]
    with db.transaction() as conn:
        assert insert_events(conn, _rows(range(5)) + _rows(range(3))) == 5
    upgrade(db, "0008")
    assert current_revision(db) == "0008"
    assert _schema(db) == ({NAME}, set())
    with db.transaction() as conn:
        assert insert_events(conn, _rows(range(3, 8))) == 3  # k3, k4 stored: skipped
    assert _keys(db) == [f"k{i}" for i in range(8)]
    downgrade(db, "0007")
    assert _keys(db) == [f"k{i}" for i in range(8)]
    with db.transaction() as conn:
        assert insert_events(conn, _rows(range(7, 9))) == 1
    upgrade(db)
    assert _schema(db) == ({NAME}, set())
    assert _keys(db) == [f"k{i}" for i in range(9)]
