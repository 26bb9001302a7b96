"""newrows: the ids of rows a SQLite executemany just inserted, from the id range they filled."""

from __future__ import annotations

from datetime import UTC, datetime

from funnelbridge.ingest.newrows import max_id, new_ids
from funnelbridge.store import Database
from funnelbridge.store import contacts as contact_repo
from funnelbridge.store.tables import contacts

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _rows(n: int, start: int) -> list[dict[str, object]]:
    return [{"email": f"p{start + i}@acme.com", "created_at": T0, "updated_at": T0, "version": 1,
             "unsubscribed": False, "bounced": False} for i in range(n)]  # fmt: skip


def test_new_ids_are_the_range_filled_or_none(sqlite_db: Database) -> None:
    with sqlite_db.transaction() as conn:
        assert max_id(conn, contacts) == 0
        contact_repo.insert_contacts(conn, _rows(3, 0))
        before = max_id(conn, contacts)
        contact_repo.insert_contacts(conn, _rows(4, 3))
        ids = new_ids(conn, contacts, before, 4)
        assert ids == [4, 5, 6, 7]
        assert contact_repo.ids_by_emails(conn, [f"p{i}@acme.com" for i in range(3, 7)]) == {
            f"p{i + 3}@acme.com": cid for i, cid in enumerate(ids)
        }
        assert new_ids(conn, contacts, before, 3) is None  # not what was inserted: the caller looks them up
