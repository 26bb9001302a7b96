"""The SQLite side of the set-wise import's bulk writes (:mod:`funnelbridge.ingest.bulkstore`): contacts queued
over one JSON array are queued exactly as the repository's row-wise queueing does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text

from funnelbridge.ingest import intake
from funnelbridge.ingest.bulkstore import queue_contacts
from funnelbridge.store import Database
from funnelbridge.store.tables import contacts

T0 = datetime(2026, 4, 1, 9, 30, tzinfo=UTC)


def _queued(conn: Any) -> list[tuple[Any, ...]]:
    return list(conn.exec_driver_sql("SELECT * FROM activity_queue ORDER BY contact_id").fetchall())


def test_contacts_are_queued_once_and_those_queued_keep_their_place(sqlite_db: Database) -> None:
    later = T0 + timedelta(hours=3)
    with sqlite_db.transaction() as conn:
        row = {"created_at": T0, "updated_at": T0, "version": 1, "unsubscribed": False, "bounced": False}
        conn.execute(insert(contacts), [{**row, "id": i} for i in range(1, 9)])
        wanted = [5, 2, 7, 2, 8, 5, 1]  # unsorted, with repeats; 2 and 7 already queued
        for queue in (intake.queue_contacts, queue_contacts):
            conn.execute(text("DELETE FROM activity_queue"))
            intake.queue_contacts(conn, [2, 7], T0)
            queue(conn, wanted, later)
            queue(conn, [], later)
            if queue is intake.queue_contacts:
                reference = _queued(conn)
        assert _queued(conn) == reference
    assert [r[0] for r in reference] == [1, 2, 5, 7, 8]
    assert [r[1][:13] for r in reference] == ["2026-04-01 12", "2026-04-01 09", "2026-04-01 12", "2026-04-01 09",
                                             "2026-04-01 12"]  # fmt: skip
