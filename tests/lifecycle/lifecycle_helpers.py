"""Helpers for the lifecycle tests: a runtime on a test store, and contacts/events/scores written directly
(ingestion and scoring belong to other modules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from sqlalchemy import insert

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.domain.events import EventBus
from funnelbridge.lifecycle import Actor, advance
from funnelbridge.lifecycle.table import TransitionTable, table_for
from funnelbridge.playbook.schema import Playbook
from funnelbridge.runtime import Runtime
from funnelbridge.store import Database
from funnelbridge.store.tables import contacts, events, scores

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday, 09:00 in Berlin
REP = Actor("rita@acme.example", "sales")
REP2 = Actor("sam@acme.example", "sales")
MARKETER = Actor("mia@acme.example", "marketing")
ADMIN = Actor("ada@acme.example", "admin")
FULL_BANT = {"budget": "50k", "authority": "VP signs", "need": "pipeline visibility", "timeline": "Q3"}

_ids = count(1)


def make_runtime(db: Database, playbook: Playbook) -> Runtime:
    return Runtime(db=db, playbook=playbook, clock=FrozenClock(T0), bus=EventBus(published=[]))


def table(rt: Runtime, pipeline: str | None = None) -> TransitionTable:
    name = pipeline or rt.playbook.main_name
    return table_for(rt.playbook.pipelines[name], rt.playbook.handoff, name)


def add_contact(rt: Runtime, *, email: str | None = "auto", title: str | None = "VP Sales", **extra: Any) -> int:
    n = next(_ids)
    if email == "auto":
        email = f"person{n}@corp{n}.example"
    now = rt.clock.now()
    values = {"email": email, "title": title, "created_at": now, "updated_at": now, "version": 1, **extra}
    with rt.db.transaction() as conn:
        return int(conn.execute(insert(contacts).values(values)).inserted_primary_key[0])  # type: ignore[index]


def add_event(rt: Runtime, contact_id: int, kind: str, *, at: datetime | None = None, path: str | None = None) -> None:
    when = at or rt.clock.now()
    values = {"idempotency_key": f"e{next(_ids)}", "contact_id": contact_id, "type": kind, "occurred_at": when}
    with rt.db.transaction() as conn:
        conn.execute(insert(events).values(**values, received_at=when, path=path))


def set_score(rt: Runtime, contact_id: int, *, grade: str = "A", engagement: float = 60, total: float = 80) -> None:
    now = rt.clock.now()
    with rt.db.transaction() as conn:
        conn.execute(scores.delete().where(scores.c.contact_id == contact_id))
        values = {
            "contact_id": contact_id,
            "score_group": "main",
            "fit": 50.0,
            "engagement": engagement,
            "negative": 0.0,
            "total": total,
            "grade": grade,
            "temperature": "hot",
            "quadrant": "high_fit_high_interest",
            "mql_eligible": True,
            "explanation": [
                {"rule": "senior title", "kind": "fit", "points": 20.0},
                {"rule": "demo request", "kind": "engagement", "points": 50.0, "events": 1, "halves_at": "2026-05-01"},
            ],
            "as_of": now,
            "playbook_version": rt.playbook.version,
            "updated_at": now,
        }
        conn.execute(insert(scores).values(values))


def run_advance(rt: Runtime, contact_id: int, pipeline: str | None = None) -> list[Any]:
    with rt.db.transaction() as conn:
        return advance(rt, conn, contact_id, pipeline)


def make_mql(rt: Runtime, **contact: Any) -> int:
    """A hot, well-fitting lead with a demo request: MQL in every shipped B2B-style playbook."""
    cid = add_contact(rt, **contact)
    set_score(rt, cid)
    add_event(rt, cid, "demo_request")
    run_advance(rt, cid)
    return cid


def tick(rt: Runtime, delta: timedelta = timedelta(minutes=5)) -> datetime:
    clock = rt.clock
    assert isinstance(clock, FrozenClock)
    return clock.advance(delta)
