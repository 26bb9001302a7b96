"""``contacts.insert_stamped_contacts`` (new contacts from SQLite time texts: the anonymous ones through one
``INSERT … SELECT`` over a JSON array, the people by ``executemany``) stores exactly what
``insert_contact_columns`` stores for the same values — every column, as SQLite holds it — on random mixes of
anonymous contacts and people, any text (NUL, quotes, non-ASCII) included."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funnelbridge.store import Database
from funnelbridge.store.bulk import sqlite_time
from funnelbridge.store.contacts import insert_contact_columns, insert_stamped_contacts

_times = st.datetimes(datetime(1990, 1, 1), datetime(2040, 1, 1), timezones=st.just(UTC))
_contact = st.tuples(st.sampled_from(["anon", "email", "external", "both"]), st.text(min_size=1, max_size=8), _times)


def _stored(conn: Any) -> list[tuple[Any, ...]]:
    """Every contact's columns as SQLite holds them (storage class and value)."""
    rows = conn.exec_driver_sql("SELECT * FROM contacts ORDER BY id").fetchall()
    return [tuple((type(v).__name__, v) for v in row) for row in rows]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_contact, max_size=12, unique_by=lambda c: c[1]), st.integers(1, 3))
def test_stamped_contacts_are_stored_as_their_columns_are(sqlite_db: Database, made: list[Any], first: int) -> None:
    kinds = [kind for kind, _, _ in made]
    stamps = [sqlite_time(at) for _, _, at in made]
    emails = [value if kind in ("email", "both") else None for kind, value, _ in made]
    external_ids = [f"x{value}" if kind in ("external", "both") else None for kind, value, _ in made]
    identified = [None if kind == "anon" else stamp for kind, stamp in zip(kinds, stamps, strict=True)]
    stored = []
    for insert in ("reference", "stamped"):
        with sqlite_db.engine.connect() as conn, conn.begin() as transaction:
            if insert == "stamped":
                insert_stamped_contacts(conn, first, stamps, emails, external_ids)
            elif made:
                insert_contact_columns(conn, {
                    "id": range(first, first + len(made)), "email": emails, "external_id": external_ids,
                    "created_at": stamps, "identified_at": identified, "updated_at": stamps,
                    "version": [1] * len(made), "unsubscribed": [False] * len(made), "bounced": [False] * len(made),
                })  # fmt: skip
            stored.append(_stored(conn))
            transaction.rollback()
    assert stored[1] == stored[0]
    assert len(stored[0]) == len(made)
