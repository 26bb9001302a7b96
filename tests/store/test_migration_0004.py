"""Migration 0004 drops ``ix_events_anonymous_time`` (no query uses it; every event paid a random b-tree insert
into it): a store at 0003 with events keeps them all, loses the index, and gets it back on downgrade."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect

from funnelbridge.store import Database
from funnelbridge.store.events import insert_events
from funnelbridge.store.migrate import current_revision, downgrade, upgrade

AT = datetime(2026, 3, 1, 9, tzinfo=UTC)


def _event_indexes(db: Database) -> set[str]:
    with db.read() as conn:
        return {str(ix["name"]) for ix in inspect(conn).get_indexes("events")}


def _keys(db: Database) -> list[str]:
    with db.read() as conn:
        return list(conn.exec_driver_sql("SELECT idempotency_key FROM events ORDER BY id").scalars())


def test_upgrade_from_0003_keeps_events_and_drops_the_cookie_index(db: Database) -> None:
    downgrade(db, "0003")
    assert "ix_events_anonymous_time" in _event_indexes(db)
    rows = [
        {"idempotency_key": f"k{i}", "contact_id": None, "anonymous_id": f"a{i % 3}", "type": "page_view",
         "occurred_at": AT, "received_at": AT, "path": "/", "campaign": None, "source": None, "medium": None,
         "properties": None}
        for i in range(5)
    ]  # fmt: skip
    with db.transaction() as conn:
        insert_events(conn, rows)
    upgrade(db, "0004")
    assert current_revision(db) == "0004"
    assert "ix_events_anonymous_time" not in _event_indexes(db)
    assert {"ix_events_contact_time", "ix_events_type_time"} <= _event_indexes(db)
    assert _keys(db) == [f"k{i}" for i in range(5)]
    downgrade(db, "0003")
    assert "ix_events_anonymous_time" in _event_indexes(db)
    assert _keys(db) == [f"k{i}" for i in range(5)]


def test_upgrade_when_a_killed_bulk_load_left_the_index_missing(db: Database) -> None:
    downgrade(db, "0003")
    with db.transaction() as conn:
        conn.exec_driver_sql("DROP INDEX ix_events_anonymous_time")
    upgrade(db, "0004")
    assert current_revision(db) == "0004"
    assert "ix_events_anonymous_time" not in _event_indexes(db)
