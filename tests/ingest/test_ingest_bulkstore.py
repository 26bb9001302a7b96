"""The SQLite side of the set-wise import's bulk writes (:mod:`funnelbridge.ingest.bulkstore`): contacts queued
over one JSON array are queued exactly as the repository's row-wise queueing does; new contacts created from the
chunk's time texts (``create_contacts``) are stored exactly as the plain lane's earlier rows of ``datetime`` values
stored them (kept below as the reference), contacts and identities, on random mixes of people and cookies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, insert, select, text

from funnelbridge.ingest import intake
from funnelbridge.ingest.bulkstore import create_contacts, insert_contacts, queue_contacts
from funnelbridge.store import Database
from funnelbridge.store import identities as identity_repo
from funnelbridge.store.bulk import sqlite_time
from funnelbridge.store.tables import contacts, identities

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


def _create_as_before(conn: Connection, kinds: list[str], values: list[str], times: list[datetime]) -> list[int]:
    """The reference: what the plain lane's ``_create`` stored before ``create_contacts`` — rows of dicts of
    ``datetime`` values, then the identity links as dicts."""
    rows = [{"email": value if kind == "email" else None, "external_id": value if kind == "external" else None,
             "created_at": at, "identified_at": None if kind == "anon" else at, "updated_at": at}
            for kind, value, at in zip(kinds, values, times, strict=True)]  # fmt: skip
    made = insert_contacts(conn, rows)
    links = [{"anonymous_id": value, "contact_id": contact_id, "first_seen_at": at}
             for kind, value, at, contact_id in zip(kinds, values, times, made, strict=True)
             if kind == "anon"]  # fmt: skip
    if links:
        identity_repo.link_identities(conn, links)
    return made


def _tables(conn: Connection) -> list[list[tuple[Any, ...]]]:
    """Every contact and identity as SQLite holds them (storage class and value; identities with their rowid)."""
    queries = ("SELECT * FROM contacts ORDER BY id", "SELECT rowid, * FROM identities ORDER BY rowid")
    return [[tuple((type(v).__name__, v) for v in row) for row in conn.exec_driver_sql(q)] for q in queries]


_times = st.datetimes(datetime(1990, 1, 1), datetime(2040, 1, 1), timezones=st.just(UTC))
_new = st.lists(st.tuples(st.sampled_from(["anon", "anon", "email", "external"]), st.text(min_size=1, max_size=6),
                          _times), max_size=14, unique_by=lambda n: (n[0], n[1]))  # fmt: skip


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_new, st.integers(0, 3))
def test_new_contacts_are_stored_as_rows_of_datetimes_stored_them(
    sqlite_db: Database, new: list[tuple[str, str, datetime]], stored: int
) -> None:
    kinds, values, times = (list(c) for c in zip(*new, strict=True)) if new else ([], [], [])
    out = []
    for create in ("before", "now"):
        with sqlite_db.engine.connect() as conn, conn.begin() as transaction:
            row = {"created_at": T0, "updated_at": T0, "version": 1, "unsubscribed": False, "bounced": False}
            if stored:
                conn.execute(insert(contacts), [{**row, "id": i} for i in range(1, stored + 1)])
            if create == "now":
                made = create_contacts(conn, kinds, values, list(map(sqlite_time, times)))
            else:
                made = _create_as_before(conn, kinds, values, times) if new else []
            out.append((made, _tables(conn)))
            transaction.rollback()
    assert out[1] == out[0]
    assert out[0][0] == list(range(stored + 1, stored + 1 + len(new)))


def test_new_contacts_are_created_on_every_store(db: Database) -> None:
    kinds, values = ["anon", "email", "external", "anon"], ["c1", "a@x.example", "u7", "c2"]
    times = [T0 + timedelta(minutes=i, microseconds=5) for i in range(4)]
    with db.transaction() as conn:
        made = create_contacts(conn, kinds, values, list(map(sqlite_time, times)))
        got = conn.execute(select(contacts.c.id, contacts.c.email, contacts.c.external_id, contacts.c.created_at,
                                  contacts.c.identified_at).order_by(contacts.c.id)).all()  # fmt: skip
        links = conn.execute(select(identities.c.anonymous_id, identities.c.contact_id, identities.c.first_seen_at)
                             .order_by(identities.c.anonymous_id)).all()  # fmt: skip
    assert [tuple(r) for r in got] == [(made[0], None, None, times[0], None), (made[1], "a@x.example", None, times[1],
                                        times[1]), (made[2], None, "u7", times[2], times[2]),
                                       (made[3], None, None, times[3], None)]  # fmt: skip
    assert [tuple(r) for r in links] == [("c1", made[0], times[0]), ("c2", made[3], times[3])]
