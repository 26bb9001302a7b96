"""SLA timers (business hours, reminder, breach, escalation, cancel on leaving), nurture steps and inactivity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from automation_helpers import World, b2b
from sqlalchemy import select, update

from funnelbridge.automation import fire_due_timers, list_outbox, record_first_touch, scan_inactive
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.store.tables import contacts, nurture_enrollments, pipeline_states
from funnelbridge.store.timers import select_timers


def _pending(world: World, cid: int) -> dict[str, datetime]:
    with world.rt.db.read() as conn:
        return {t.kind: t.due_at for t in select_timers(conn, contact_id=cid, pending_only=True)}


def test_mql_entry_starts_the_sal_decision_clock_in_business_hours(world: World, clock: FrozenClock) -> None:
    # Friday 27 Nov 2026, 15:00 Berlin (14:00 UTC): 2h of the 24 working hours are left that day.
    clock.set(datetime(2026, 11, 27, 14, 0, tzinfo=UTC))
    cid = world.contact("lead@corp.test", stage="mal")
    world.enter(cid, "mql", from_stage="mal")
    timers = _pending(world, cid)
    # 2h Fri + 8h Mon + 8h Tue + 6h Wed → Wednesday 15:00 Berlin; the reminder 4 working hours earlier, 11:00.
    assert timers["sla_breach"] == datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
    assert timers["sla_reminder"] == datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def test_leaving_the_stage_cancels_its_timers(world: World) -> None:
    cid = world.contact("lead@corp.test", stage="mal")
    world.enter(cid, "mql", from_stage="mal")
    assert set(_pending(world, cid)) == {"sla_reminder", "sla_breach"}  # SAL's decide_within runs in the queue
    world.enter(cid, "sal", from_stage="mql")  # accepted: decided in time
    assert _pending(world, cid) == {}
    world.enter(cid, "sql", from_stage="sal")
    assert set(_pending(world, cid)) == {"sla_breach"}  # the SQL first-touch SLA
    assert record_first_touch(world.rt, cid) == 1
    assert _pending(world, cid) == {}


def test_reminder_goes_to_the_owner_and_breach_escalates_to_the_manager(world: World, clock: FrozenClock) -> None:
    boss = world.user("boss@acme.test")
    rep = world.user("rep@acme.test", manager=boss)
    cid = world.contact("lead@corp.test", stage="mal", owner=rep)
    world.enter(cid, "mql", from_stage="mal")
    assert fire_due_timers(world.rt) == 0
    # From Wed 10:00 Berlin, 24 working hours end Mon 10:00 Berlin; the reminder 4 working hours earlier, Fri 14:00.
    clock.set(datetime(2026, 11, 27, 12, 59, tzinfo=UTC))
    assert fire_due_timers(world.rt) == 0
    clock.set(datetime(2026, 11, 27, 13, 0, tzinfo=UTC))
    assert fire_due_timers(world.rt) == 1
    clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    assert fire_due_timers(world.rt) == 1
    assert fire_due_timers(world.rt) == 0  # each timer fires once
    rows = sorted(list_outbox(world.rt.db).rows, key=lambda r: r.id)[1:]  # after the MQL notification
    assert [(r.kind, r.payload["trigger"], r.payload["to"][0]["email"]) for r in rows] == [
        ("email", "sla_warning", "rep@acme.test"),
        ("webhook", "sla_breached", "boss@acme.test"),
    ]
    assert rows[1].payload["data"]["breach_at"] == "2026-11-30T09:00:00+00:00"


def test_nurture_track_sends_each_step_once_then_completes(world: World, clock: FrozenClock) -> None:
    cid = world.contact("lead@corp.test")
    world.enter(cid, "recycled", from_stage="mql")
    sent = []
    for _ in range(35):
        clock.advance(timedelta(days=1))
        fire_due_timers(world.rt)
    sent = [r.payload["template"] for r in sorted(list_outbox(world.rt.db).rows, key=lambda r: r.id)]
    assert sent == ["nurture_intro", "nurture_case_study", "nurture_checkin"]
    with world.rt.db.read() as conn:
        enrollment = conn.execute(select(nurture_enrollments)).one()
    assert enrollment.completed_at is not None and enrollment.step == 3


def test_unsubscribed_leads_leave_the_track_unmailed(world: World, clock: FrozenClock) -> None:
    cid = world.contact("lead@corp.test")
    world.enter(cid, "recycled", from_stage="mql")
    with world.rt.db.transaction() as conn:
        conn.execute(update(contacts).where(contacts.c.id == cid).values(unsubscribed=True))
    clock.advance(timedelta(days=40))
    fire_due_timers(world.rt)
    assert list_outbox(world.rt.db).rows == []
    with world.rt.db.read() as conn:
        assert conn.execute(select(nurture_enrollments.c.removed_at)).scalar() is not None


def test_removing_from_a_track_stops_it(world: World, clock: FrozenClock) -> None:
    world.rt.playbook = b2b(
        automation=[
            {"on": "stage_entered", "stage": "recycled", "do": [{"enroll": "nurture_long"}]},
            {"on": "stage_left", "stage": "recycled", "do": [{"unenroll": "all"}]},
        ]
    )
    cid = world.contact("lead@corp.test")
    world.enter(cid, "recycled", from_stage="mql")
    world.enter(cid, "mql", from_stage="recycled")
    clock.advance(timedelta(days=40))
    fire_due_timers(world.rt)  # only the SAL decision clock (no rule for it here): no nurture mail
    assert list_outbox(world.rt.db).rows == []


def test_inactive_rule_fires_once_per_quiet_spell(world: World, clock: FrozenClock) -> None:
    world.rt.playbook = b2b(
        automation=[{"on": "inactive", "stage": "mql", "after": "7d", "do": [{"notify": "ops@acme.test"}]}]
    )
    cid = world.contact("lead@corp.test")
    clock.advance(timedelta(days=6))
    assert scan_inactive(world.rt).leads == 0
    clock.advance(timedelta(days=2))
    assert scan_inactive(world.rt).leads == 1
    assert scan_inactive(world.rt).leads == 0
    with world.rt.db.transaction() as conn:  # new activity, then a new quiet spell
        stmt = update(pipeline_states).where(pipeline_states.c.contact_id == cid)
        conn.execute(stmt.values(last_activity_at=clock.now()))
    clock.advance(timedelta(days=8))
    assert scan_inactive(world.rt).leads == 1
    assert len(list_outbox(world.rt.db).rows) == 2


def test_a_touch_event_silences_the_first_touch_sla(world: World, clock: FrozenClock) -> None:
    from sqlalchemy import insert

    from funnelbridge.store.tables import events

    rep = world.user("rep@acme.test")
    world.rt.playbook = b2b(automation=[{"on": "sla_breached", "stage": "sql", "do": [{"notify": "owner"}]}])
    touched, ignored = world.contact("a@corp.test", owner=rep), world.contact("b@corp.test", owner=rep)
    for cid in (touched, ignored):
        world.enter(cid, "sql", from_stage="sal")
    clock.advance(timedelta(hours=2))
    with world.rt.db.transaction() as conn:
        conn.execute(insert(events).values(idempotency_key="call-1", contact_id=touched, type="call",
                                           occurred_at=clock.now(), received_at=clock.now()))  # fmt: skip
    clock.advance(timedelta(days=10))  # 48 business hours are six working days
    assert fire_due_timers(world.rt) == 2
    (row,) = list_outbox(world.rt.db).rows
    assert row.payload["lead"]["id"] == ignored


def test_a_timer_whose_lead_moved_on_without_a_stage_left_event_stays_silent(world: World, clock: FrozenClock) -> None:
    rep = world.user("rep@acme.test")
    cid = world.contact("lead@corp.test", stage="mal", owner=rep)
    world.enter(cid, "mql", from_stage="mal")
    with world.rt.db.transaction() as conn:  # e.g. a projection rebuild: no StageLeft published
        conn.execute(update(pipeline_states).where(pipeline_states.c.contact_id == cid).values(stage="sal"))
    clock.advance(timedelta(days=10))
    assert fire_due_timers(world.rt) == 2
    assert [r.payload["trigger"] for r in list_outbox(world.rt.db).rows] == ["stage_entered"]
