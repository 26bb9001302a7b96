"""The outbox repository on SQLite and PostgreSQL: insert-if-absent, claims with leases, lease ownership."""

from __future__ import annotations

from datetime import timedelta

from automation_helpers import T0

from funnelbridge.automation import enqueue
from funnelbridge.store import Database
from funnelbridge.store.outbox import claim_due, count_by_status, get_row, mark_dead, mark_done, mark_retry

LEASE = timedelta(seconds=30)


def _queue(db: Database, *keys: str) -> None:
    with db.transaction() as conn:
        for key in keys:
            enqueue(conn, key=key, kind="webhook", payload={"n": key}, at=T0)


def test_enqueue_is_insert_if_absent(db: Database) -> None:
    with db.transaction() as conn:
        assert enqueue(conn, key="a", kind="email", payload={}, at=T0) is True
        assert enqueue(conn, key="a", kind="email", payload={"other": 1}, at=T0) is False
        assert count_by_status(conn) == {"pending": 1, "done": 0, "dead": 0}


def test_claims_are_leased_counted_and_disjoint(db: Database) -> None:
    _queue(db, "a", "b", "c")
    with db.transaction() as conn:
        first = claim_due(conn, worker="w1", now=T0, lease=LEASE, limit=2)
        second = claim_due(conn, worker="w2", now=T0, lease=LEASE, limit=10)
        assert claim_due(conn, worker="w3", now=T0 + LEASE - timedelta(seconds=1), lease=LEASE, limit=10) == []
    assert [r.idempotency_key for r in first] == ["a", "b"]
    assert [r.idempotency_key for r in second] == ["c"]
    assert all(r.attempts == 1 and r.locked_by == "w1" for r in first)


def test_an_expired_lease_is_reclaimed_and_the_old_owner_cannot_clobber_it(db: Database) -> None:
    _queue(db, "a")
    later = T0 + LEASE + timedelta(seconds=1)
    with db.transaction() as conn:
        (row,) = claim_due(conn, worker="crashed", now=T0, lease=LEASE, limit=5)
        (again,) = claim_due(conn, worker="w2", now=later, lease=LEASE, limit=5)
        assert again.id == row.id and again.attempts == 2 and again.locked_by == "w2"
        mark_retry(conn, row.id, worker="crashed", available_at=later + timedelta(hours=1), error="late")
        mark_dead(conn, row.id, worker="crashed", error="late")
        current = get_row(conn, row.id)
        assert current is not None and (current.status, current.locked_by) == ("pending", "w2")
        assert mark_done(conn, [row.id], later) == 1
        assert mark_done(conn, [row.id], later) == 0


def test_rows_wait_for_their_available_time(db: Database) -> None:
    with db.transaction() as conn:
        enqueue(conn, key="later", kind="email", payload={}, at=T0 + timedelta(minutes=5))
        assert claim_due(conn, worker="w", now=T0, lease=LEASE, limit=5) == []
        assert len(claim_due(conn, worker="w", now=T0 + timedelta(minutes=5), lease=LEASE, limit=5)) == 1
