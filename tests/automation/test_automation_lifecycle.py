"""With the real lifecycle publishing on the bus: automatic MQL → routed and notified; accept → SAL SLA timers;
leaving SAL cancels them; an automation ``move`` is made through the lifecycle's rules by the worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from automation_helpers import World, b2b
from sqlalchemy import select

from funnelbridge.automation import RecordingDeliverer, list_outbox, run_worker, scan_inactive
from funnelbridge.automation.delivery.move import MoveDeliverer
from funnelbridge.lifecycle import Actor, accept, advance, disqualify, reject
from funnelbridge.store import Database
from funnelbridge.store.tables import contacts, pipeline_states, transitions
from funnelbridge.store.timers import select_timers


@pytest.fixture
def db(sqlite_db: Database) -> Database:
    return sqlite_db


def _pending(world: World, cid: int) -> set[str]:
    with world.rt.db.read() as conn:
        return {t.kind for t in select_timers(conn, contact_id=cid, pending_only=True)}


def test_the_handoff_end_to_end(world: World) -> None:
    rep = world.user("rep@acme.test")
    cid = world.contact("lead@corp.test", stage=None)
    with world.rt.db.transaction() as conn:
        moved = advance(world.rt, conn, cid)
    assert moved[-1].to_stage == "mql"
    with world.rt.db.read() as conn:
        assert conn.execute(select(contacts.c.owner_id).where(contacts.c.id == cid)).scalar() == rep
    assert [r.payload["trigger"] for r in list_outbox(world.rt.db).rows] == ["stage_entered"]
    assert _pending(world, cid) == {"sla_reminder", "sla_breach"}  # the handoff (SAL) decision clock
    world.clock.advance(timedelta(hours=1))
    accept(world.rt, cid, Actor("rep@acme.test", "sales"))
    assert _pending(world, cid) == set()  # decided in time
    world.clock.advance(timedelta(hours=1))
    disqualify(world.rt, cid, Actor("rep@acme.test", "sales"), "spam")


def test_a_rejection_stops_the_clock_and_starts_nurture(world: World) -> None:
    world.user("rep@acme.test")
    cid = world.contact("lead@corp.test", stage=None)
    with world.rt.db.transaction() as conn:
        advance(world.rt, conn, cid)
    world.clock.advance(timedelta(hours=1))
    reject(world.rt, cid, Actor("rep@acme.test", "sales"), "bad_timing")
    assert _pending(world, cid) == {"nurture_step"}


def test_a_move_action_goes_through_the_lifecycle(world: World) -> None:
    world.rt.playbook = b2b(
        automation=[
            {"on": "inactive", "stage": "mql", "after": "3d", "do": [{"move": "recycled", "reason": "stalled"}]},
            {"on": "stage_entered", "stage": "recycled", "do": [{"enroll": "nurture_long"}]},
        ]
    )
    world.user("rep@acme.test")
    cid = world.contact("lead@corp.test", stage=None)
    with world.rt.db.transaction() as conn:
        advance(world.rt, conn, cid)
    world.clock.advance(timedelta(days=4))
    assert scan_inactive(world.rt).actions == 1
    deliverers = {"move": MoveDeliverer(world.rt), "email": RecordingDeliverer()}
    assert run_worker(world.rt, once=True, deliverers=deliverers).delivered == 1
    with world.rt.db.read() as conn:
        assert conn.execute(select(pipeline_states.c.stage)).scalar() == "recycled"
        last = conn.execute(select(transitions).order_by(transitions.c.id.desc())).first()
    assert last is not None and last.reason == "stalled" and last.idempotency_key.startswith("inactive:")
    # recycled → the second rule enrolls in nurture (the enrollment happened in the move's transaction)
    assert "nurture_step" in _pending(world, cid)
