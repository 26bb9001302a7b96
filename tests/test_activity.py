from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from funnelbridge import lifecycle
from funnelbridge.activity import drain, enqueue, pending
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.ingest import ingest_events
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.store import Database
from funnelbridge.store.tables import scores

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _events(n: int) -> list[dict[str, object]]:
    email = f"p{n}@acme{n}.com"
    return [
        {
            "type": "identify",
            "anonymous_id": f"a{n}",
            "email": email,
            "timestamp": "2026-03-01T09:05:00Z",
            "traits": {"title": "VP Sales", "company": "Acme", "employees": 200, "industry": "software"},
        },
        {"type": "track", "event": "demo_request", "email": email, "timestamp": "2026-03-01T09:10:00Z"},
    ]


def test_deferred_intake_queues_each_contact_once_and_drain_matches_sync(db: Database) -> None:
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW))
    ingest_events(rt, _events(1) + _events(2) + _events(1), defer=True)
    with db.read() as conn:
        assert pending(conn) == 2
        assert conn.execute(select(scores)).first() is None
    result = drain(rt, batch=1)
    assert result.contacts == 2 and result.transitions >= 2 and not result.failed
    with db.read() as conn:
        assert pending(conn) == 0
    deferred = sorted((i.email, i.stage, round(i.score_total or 0, 6)) for i in lifecycle.sales_queue(rt))

    other = Runtime(db=db, playbook=rt.playbook, clock=rt.clock)
    ingest_events(other, _events(3))
    direct = next(i for i in lifecycle.sales_queue(rt) if i.email == "p3@acme3.com")
    assert [d[1] for d in deferred] == ["mql", "mql"]
    assert deferred[0][2] == round(direct.score_total or 0, 6)


def test_enqueue_is_idempotent(db: Database) -> None:
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW))
    ingest_events(rt, _events(1), after=False)
    with db.transaction() as conn:
        enqueue(conn, [1, 1], NOW)
        enqueue(conn, [1], NOW)
    with db.read() as conn:
        assert pending(conn) == 1
    assert drain(rt).contacts == 1
    assert drain(rt).contacts == 0


def test_the_worker_drains_deferred_activity(db: Database) -> None:
    from funnelbridge.automation import install
    from funnelbridge.automation.delivery import RecordingDeliverer
    from funnelbridge.automation.worker import run_worker

    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW))
    install(rt)
    ingest_events(rt, _events(1) + _events(2), defer=True)
    channels = {kind: RecordingDeliverer() for kind in ("email", "webhook", "move", "invalid")}
    summary = run_worker(rt, once=True, deliverers=channels)
    assert summary.activity_scored == 2
    with db.read() as conn:
        assert pending(conn) == 0
    assert {i.email for i in lifecycle.sales_queue(rt)} == {"p1@acme1.com", "p2@acme2.com"}


def test_a_drain_batch_takes_the_oldest_queued_contacts(db: Database) -> None:
    from datetime import timedelta

    from funnelbridge.store.tables import activity_queue, contacts

    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW))
    ingest_events(rt, _events(1) + _events(2) + _events(3), after=False)
    with db.read() as conn:
        a, b, c = sorted(int(cid) for cid in conn.execute(select(contacts.c.id)).scalars())
    with db.transaction() as conn:
        enqueue(conn, [a], NOW)
        enqueue(conn, [c, b], NOW - timedelta(hours=1))
    assert drain(rt, batch=2, max_batches=1).contacts == 2
    with db.read() as conn:
        assert [int(cid) for cid in conn.execute(select(activity_queue.c.contact_id)).scalars()] == [a]
        assert {int(cid) for cid in conn.execute(select(scores.c.contact_id)).scalars()} == {b, c}
