"""Rules run inside the publishing transaction: stage entered → assign + notify; a rollback leaves nothing."""

from __future__ import annotations

import pytest
from automation_helpers import World, b2b
from sqlalchemy import func, select

from funnelbridge.automation import list_outbox
from funnelbridge.domain.events import DealWon, ScoreCrossed, StageEntered, TemperatureChanged
from funnelbridge.store import Database
from funnelbridge.store.tables import nurture_enrollments, outbox, tasks


@pytest.fixture
def db(sqlite_db: Database) -> Database:
    """Rule evaluation is store-agnostic; the PostgreSQL paths (insert-if-absent, locking) are covered by the
    routing, timer and concurrent-worker tests."""
    return sqlite_db


def test_mql_entry_assigns_an_owner_and_queues_an_email_to_them(world: World) -> None:
    world.user("rep@acme.test")
    cid = world.contact("lead@corp.test", stage="mal")
    world.enter(cid, "mql", from_stage="mal")
    rows = list_outbox(world.rt.db).rows
    assert [(r.kind, r.status) for r in rows] == [("email", "pending")]
    payload = rows[0].payload
    assert payload["to"] == [{"id": 1, "email": "rep@acme.test", "name": "Rep"}]
    assert payload["trigger"] == "stage_entered" and payload["stage"] == "mql"
    assert payload["lead"]["score"]["explanation"][0]["rule"] == "pricing page"


def test_a_rolled_back_change_leaves_no_action(world: World) -> None:
    world.user("rep@acme.test")
    cid = world.contact("lead@corp.test")
    with pytest.raises(RuntimeError), world.rt.db.transaction() as conn:
        world.rt.bus.publish(conn, StageEntered(cid, world.clock.now(), "main", "mql", "mal", 1))
        raise RuntimeError("the lifecycle change failed")
    with world.rt.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar() == 0


def test_the_same_event_twice_queues_each_action_once(world: World) -> None:
    world.user("rep@acme.test")
    cid = world.contact("lead@corp.test")
    event = StageEntered(cid, world.clock.now(), "main", "mql", "mal", 1)
    for _ in range(2):
        with world.rt.db.transaction() as conn:
            world.rt.bus.publish(conn, event)
    assert len(list_outbox(world.rt.db).rows) == 1


def test_sql_entry_creates_a_follow_up_task_for_the_owner(world: World) -> None:
    rep = world.user("rep@acme.test")
    cid = world.contact("lead@corp.test", stage="sal", owner=rep)
    world.enter(cid, "sql", from_stage="sal")
    with world.rt.db.read() as conn:
        task = conn.execute(select(tasks)).one()
    assert task.owner_id == rep and task.title == "First call with the lead"


def test_recycled_entry_enrolls_in_nurture(world: World) -> None:
    cid = world.contact("lead@corp.test")
    world.enter(cid, "recycled", from_stage="mql")
    with world.rt.db.read() as conn:
        enrollment = conn.execute(select(nurture_enrollments)).one()
    assert enrollment.track == "nurture_long" and enrollment.step == 0


def test_score_crossing_the_rule_threshold_posts_a_webhook(world: World) -> None:
    rep = world.user("rep@acme.test")
    cid = world.contact("lead@corp.test", owner=rep)
    now = world.clock.now()
    with world.rt.db.transaction() as conn:
        world.rt.bus.publish(conn, ScoreCrossed(cid, now, "main", "engagement", 50.0, 40.0, 75.0))  # not this one
        world.rt.bus.publish(conn, ScoreCrossed(cid, now, "main", "total", 70.0, 60.0, 75.0))
        world.rt.bus.publish(conn, ScoreCrossed(cid, now, "main", "total", 70.0, 75.0, 65.0))  # downward
        world.rt.bus.publish(conn, TemperatureChanged(cid, now, "warm", "hot"))
    rows = list_outbox(world.rt.db).rows
    assert [(r.kind, r.payload["trigger"]) for r in rows] == [("webhook", "score_crossed")]


def test_deal_won_notifies_the_owners_team(world: World) -> None:
    rep = world.user("rep@acme.test")
    world.user("mate@acme.test")
    world.user("other@acme.test", team="dach")
    cid = world.contact("lead@corp.test", owner=rep)
    with world.rt.db.transaction() as conn:
        world.rt.bus.publish(conn, DealWon(cid, world.clock.now(), 7, 12000.0))
    (row,) = list_outbox(world.rt.db).rows
    assert [p["email"] for p in row.payload["to"]] == ["rep@acme.test", "mate@acme.test"]
    assert row.payload["data"]["amount"] == 12000.0


def test_a_when_condition_narrows_a_rule(world: World) -> None:
    rules = [
        {
            "on": "stage_entered",
            "stage": "mql",
            "when": {"field": "account.country", "op": "eq", "value": "DE"},
            "do": [{"notify": "ops@acme.test", "via": "email"}],
        },
    ]
    world.rt.playbook = b2b(automation=rules)
    world.enter(world.contact("us@corp.test", country="US"), "mql", from_stage="mal")
    world.enter(world.contact("de@firma.test", country="DE"), "mql", from_stage="mal")
    (row,) = list_outbox(world.rt.db).rows
    assert row.payload["lead"]["email"] == "de@firma.test"


def test_a_lead_without_owner_still_gets_a_visible_action(world: World) -> None:
    world.rt.playbook = b2b(automation=[{"on": "stage_entered", "stage": "mql", "do": [{"notify": "owner"}]}])
    world.enter(world.contact("x@corp.test"), "mql", from_stage="mal")
    (row,) = list_outbox(world.rt.db).rows
    assert row.payload["to"] == [] and row.payload["missing"] == "the lead has no owner"


def test_a_playbook_mistake_does_not_block_the_stage_move_and_is_dead_lettered(world: World) -> None:
    from funnelbridge.automation import RecordingDeliverer, run_worker
    from funnelbridge.store.tables import pipeline_states

    world.rt.playbook = b2b(
        automation=[{"on": "stage_entered", "stage": "mql", "do": [{"notify": "owner", "via": "pigeon"}, "assign"]}]
    )
    world.user("rep@acme.test")
    cid = world.contact("x@corp.test", stage="mal")
    world.enter(cid, "mql", from_stage="mal")
    with world.rt.db.read() as conn:
        assert conn.execute(select(pipeline_states.c.stage)).scalar() == "mql"
    run_worker(world.rt, once=True, deliverers={"email": RecordingDeliverer()})
    (row,) = list_outbox(world.rt.db, failed=True).rows
    assert row.kind == "invalid" and "email or webhook" in (row.last_error or "")


def test_deal_triggers_notify_the_deals_owner(world: World) -> None:
    from sqlalchemy import insert

    from funnelbridge.store.tables import deals

    world.rt.playbook = b2b(automation=[{"on": "deal_won", "do": [{"notify": "owner"}]}])
    lead_owner, deal_owner = world.user("sdr@acme.test"), world.user("ae@acme.test")
    cid = world.contact("buyer@corp.test", owner=lead_owner)
    now = world.clock.now()
    with world.rt.db.transaction() as conn:
        deal = conn.execute(
            insert(deals)
            .values(contact_id=cid, name="Deal", amount=1000, stage="closed_won", probability=1.0, opened_at=now,
                    status="won", owner_id=deal_owner, pipeline="main", currency="USD", version=1)
            .returning(deals.c.id)
        ).scalar_one()  # fmt: skip
        world.rt.bus.publish(conn, DealWon(cid, now, int(deal), 1000.0))
    (row,) = list_outbox(world.rt.db).rows
    assert [p["email"] for p in row.payload["to"]] == ["ae@acme.test"]


def test_a_business_hours_task_is_due_in_working_time(world: World) -> None:
    from datetime import UTC, datetime

    rule = {"on": "stage_entered", "stage": "sql", "do": [{"task": "Call", "due": "4h", "business_hours": True}]}
    world.rt.playbook = b2b(automation=[rule])
    world.clock.set(datetime(2026, 11, 27, 15, 0, tzinfo=UTC))  # Friday 16:00 Berlin: 1 working hour left
    world.enter(world.contact("lead@corp.test", stage="sal"), "sql", from_stage="sal")
    with world.rt.db.read() as conn:
        due = conn.execute(select(tasks.c.due_at)).scalar()
    assert due is not None and due.replace(tzinfo=UTC) == datetime(2026, 11, 30, 11, 0, tzinfo=UTC)  # Mon 12:00
