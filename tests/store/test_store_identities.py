"""``identities.link_identity_columns`` (links given column by column, times as ``datetime`` or, on SQLite, as the
texts SQLite stores) stores exactly what ``link_identities`` stores from rows of ``datetime`` values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from funnelbridge.store import Database
from funnelbridge.store.bulk import sqlite_time
from funnelbridge.store.identities import link_identities, link_identity_columns
from funnelbridge.store.tables import contacts

T0 = datetime(2026, 4, 1, 9, 30, 0, 250, tzinfo=UTC)


def _stored(conn: Any) -> list[tuple[Any, ...]]:
    rows = conn.exec_driver_sql("SELECT rowid, * FROM identities ORDER BY rowid").fetchall()
    return [tuple((type(v).__name__, v) for v in row) for row in rows]


def test_links_given_column_by_column_are_stored_as_rows_of_datetimes(sqlite_db: Database) -> None:
    anons = ["c9", "c1", "é'\"x", "c\x00z"]
    times = [T0 + timedelta(minutes=i, microseconds=i) for i in range(len(anons))]
    stored = []
    for link in ("rows", "texts", "datetimes"):
        with sqlite_db.engine.connect() as conn, conn.begin() as transaction:
            row = {"created_at": T0, "updated_at": T0, "version": 1, "unsubscribed": False, "bounced": False}
            conn.execute(contacts.insert(), [{**row, "id": i} for i in range(1, 5)])
            if link == "rows":
                link_identities(conn, [{"anonymous_id": a, "contact_id": 4 - i, "first_seen_at": t}
                                       for i, (a, t) in enumerate(zip(anons, times, strict=True))])  # fmt: skip
            else:
                at = list(map(sqlite_time, times)) if link == "texts" else times
                link_identity_columns(conn, anons, [4, 3, 2, 1], at)
            link_identity_columns(conn, [], [], [])
            stored.append(_stored(conn))
            transaction.rollback()
    assert stored[0] == stored[1] == stored[2]
    assert [r[1:] for r in stored[0]][:1] == [(("str", "c9"), ("int", 4), ("str", "2026-04-01 09:30:00.000250"),
                                              ("NoneType", None))]  # fmt: skip
