"""Automation as a batch (``Engine.batched``): buffered outbox rows and timers are stored when the batch ends, in the
order they were made; a cancellation that would touch a buffered timer stores it first; seeded facts answer only
the conditions they can; firing due timers in large batches leaves what firing them one per transaction leaves."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from automation_helpers import T0, World, b2b
from sqlalchemy import select

from funnelbridge.automation import Engine, enqueue, fire_due_timers, install
from funnelbridge.automation.batch import cancel_timers, schedule_timer
from funnelbridge.automation.conditions import ConditionChecker
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.rules.ast import FieldCondition
from funnelbridge.rules.facts import LeadFacts, load_lead_facts
from funnelbridge.runtime import Runtime
from funnelbridge.store import Database, connect
from funnelbridge.store.tables import metadata, outbox, timers


def _rows(db: Database, table: Any) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table).order_by(table.c.id))]


def _timer(conn: Any, writes: Any, key: str, cid: int | None = None) -> int:
    return schedule_timer(conn, writes, key=key, kind="sla_breach", due_at=T0, contact_id=cid, payload={"k": key})


def test_buffered_rows_are_stored_when_the_batch_ends_in_the_order_made(rt: Runtime) -> None:
    engine = Engine(rt)
    with rt.db.transaction() as conn:
        _timer(conn, None, "old")
        with engine.batched(conn) as scope:
            for key in ("b", "a", "c", "old"):  # "old" exists: skipped, as insert_ignore does one by one
                _timer(conn, scope.writes, key)
                enqueue(conn, key=f"o-{key}", kind="email", payload={"n": key}, at=T0, into=scope.writes)
            enqueue(conn, key="o-b", kind="email", payload={"n": "again"}, at=T0, into=scope.writes)
            assert conn.execute(select(outbox.c.id)).first() is None  # nothing written yet
        assert engine.scope is None
    assert [r["key"] for r in _rows(rt.db, timers)] == ["old", "b", "a", "c"]
    assert [(r["idempotency_key"], r["payload"]) for r in _rows(rt.db, outbox)] == [
        ("o-b", {"n": "b"}),
        ("o-a", {"n": "a"}),
        ("o-c", {"n": "c"}),
        ("o-old", {"n": "old"}),
    ]


def test_a_cancel_that_touches_a_buffered_timer_cancels_it_too(rt: Runtime) -> None:
    engine = Engine(rt)
    with rt.db.transaction() as conn:
        _timer(conn, None, "sla:main:1:mql:stored")
        with engine.batched(conn) as scope:
            _timer(conn, scope.writes, "sla:main:1:mql:buffered")
            _timer(conn, scope.writes, "sla:main:2:mql:other")
            cancel_timers(conn, scope.writes, "sla:main:1:mql:", T0)
            _timer(conn, scope.writes, "sla:main:1:sal:later")  # made after the cancel: stays pending
            cancel_timers(conn, scope.writes, "sla:main:3:", T0)  # touches nothing
    state = {r["key"]: r["cancelled_at"] is not None for r in _rows(rt.db, timers)}
    assert state == {
        "sla:main:1:mql:stored": True,
        "sla:main:1:mql:buffered": True,
        "sla:main:2:mql:other": False,
        "sla:main:1:sal:later": False,
    }


def test_a_failed_batch_writes_nothing(rt: Runtime) -> None:
    engine = Engine(rt)
    try:
        with rt.db.transaction() as conn, engine.batched(conn) as scope:
            _timer(conn, scope.writes, "x")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert _rows(rt.db, timers) == [] and engine.scope is None


def test_seeded_facts_answer_only_the_conditions_they_can(world: World, rt: Runtime) -> None:
    cid = world.contact("lead@corp.test", country="US", score=10.0)
    with rt.db.read() as conn:
        stored = load_lead_facts(conn, cid, T0)
    assert stored.account is not None
    seeded = LeadFacts({**stored.contact}, {**stored.account, "country": "DE"}, {"total": 999.0}, as_of=T0)
    in_dach = FieldCondition(field="account.country", op="eq", value="DE")
    high = FieldCondition(field="score.total", op="gte", value=500)
    clicked = FieldCondition(field="events.count", event="email_click", op="gte", value=0)
    checker = ConditionChecker()
    checker.seed({cid: seeded})
    with rt.db.read() as conn:
        assert checker.holds(conn, in_dach, cid, T0)  # from the seed (the store says US)
        assert not checker.holds(conn, high, cid, T0)  # score: read from the store
        assert checker.holds(conn, clicked, cid, T0)  # events without the aggregate: the store (0 >= 0)
        assert not checker.holds(conn, in_dach, cid, T0 + timedelta(hours=1))  # another time: the store
        checker.forget(cid)
        assert not checker.holds(conn, in_dach, cid, T0)


def _twin(tmp_path: Path, sqlite_template: Path, name: str) -> Database:
    shutil.copyfile(sqlite_template, tmp_path / f"{name}.db")
    return connect(f"sqlite:///{tmp_path}/{name}.db")


def _timers_world(db: Database) -> Runtime:
    """Leads waiting in MQL (SLA reminder and breach per lead) and recycled leads on a nurture track."""
    clock = FrozenClock(T0)
    rt = Runtime(db=db, playbook=b2b(), clock=clock)
    install(rt)
    world = World(rt, clock)
    boss = world.user("boss@acme.test")
    reps = [world.user(f"rep{i}@acme.test", manager=boss) for i in range(3)]
    for i in range(12):
        cid = world.contact(f"lead{i}@corp{i}.test", stage="mal", owner=reps[i % 3] if i % 4 else None)
        world.enter(cid, "mql" if i % 3 else "recycled", from_stage="mal")
    return rt


def test_firing_timers_in_large_batches_leaves_what_one_per_transaction_leaves(
    tmp_path: Path, sqlite_template: Path
) -> None:
    stores = [_twin(tmp_path, sqlite_template, name) for name in ("one", "many")]
    try:
        fired = []
        for db, limit in zip(stores, (1, 500), strict=True):
            rt = _timers_world(db)
            counts = []
            for days in (1, 2, 4, 8, 15, 40):
                rt.clock.set(T0 + timedelta(days=days))  # type: ignore[attr-defined]
                counts.append(fire_due_timers(rt, limit=limit))
            fired.append(counts)
        assert fired[0] == fired[1] and sum(fired[0]) > 20
        for table in ("outbox", "timers", "nurture_enrollments"):
            assert _rows(stores[0], metadata.tables[table]) == _rows(stores[1], metadata.tables[table]), table
        kinds = {r["payload"].get("trigger") for r in _rows(stores[1], outbox)}
        assert {"sla_warning", "sla_breached", "nurture_step"} <= kinds
    finally:
        for db in stores:
            db.dispose()
