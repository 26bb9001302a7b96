"""Threshold crossings' automation runs as one batch per ``store_scored`` (outbox rows stored together, users read
once) and leaves exactly the outbox rows — in the same order, with the same payloads — that publishing each crossing
on its own leaves; on SQLite and PostgreSQL, with leads with and without an owner and a manager to notify."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import timedelta
from typing import Any

import pytest
from rule_helpers import T0, add_account, add_contact, add_events, playbook
from sqlalchemy import select

from funnelbridge.automation import install
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.domain.events import EventBus
from funnelbridge.lifecycle import batch as lifecycle_batch
from funnelbridge.runtime import Runtime
from funnelbridge.scoring.incremental_store import score_leads
from funnelbridge.scoring.service import store_scored
from funnelbridge.store import Database
from funnelbridge.store.tables import outbox
from funnelbridge.users import add_user

SCORING: dict[str, Any] = {
    "engagement": [{"name": "demo", "event": "demo_request", "points": 50}, {"event": "page_view", "points": 10}],
    "temperature": {"hot": 60, "warm": 20},
}
AUTOMATION = [
    {"on": "score_crossed", "threshold": 60, "do": [{"notify": "owner", "via": "webhook"}]},
    {"on": "score_crossed", "threshold": 20, "do": [{"notify": "manager", "via": "email"}]},
]
NOW = T0 + timedelta(days=3)


def _leads(rt: Runtime) -> list[int]:
    add_user(rt, "boss@x.example", "Boss", "sales", team="management")
    rep = add_user(rt, "rep@x.example", "Rep", "sales", "default", "boss@x.example", 10)
    ids = []
    with rt.db.transaction() as conn:
        for n in range(12):
            acc = add_account(conn, domain=f"acme{n}.com")
            owner = rep if n % 3 else None
            cid = add_contact(conn, email=f"a{n}@acme{n}.com", account_id=acc, owner_id=owner, first_name=f"A{n}")
            kinds = ["page_view"] * (n % 4) + (["demo_request"] if n % 2 else [])
            add_events(conn, cid, [{"type": t, "occurred_at": T0 + timedelta(hours=i)} for i, t in enumerate(kinds)])
            ids.append(cid)
    return ids


def _outbox_after_scoring(rt: Runtime, ids: list[int]) -> list[tuple[Any, ...]]:
    """The outbox rows scoring the leads leaves (rolled back afterwards), in id order."""
    with rt.db.engine.connect() as conn, conn.begin() as tx:
        store_scored(rt, conn, score_leads(rt.playbook, conn, ids, NOW), results=False)
        o = outbox.c
        rows = conn.execute(select(o.idempotency_key, o.kind, o.payload, o.status).order_by(o.id)).all()
        tx.rollback()
    return [tuple(r) for r in rows]


def test_crossings_batched_leave_the_outbox_rows_one_by_one_leaves(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = Runtime(db=db, playbook=playbook(SCORING, automation=AUTOMATION), clock=FrozenClock(NOW), bus=EventBus())
    install(rt)
    ids = _leads(rt)
    batched = _outbox_after_scoring(rt, ids)
    monkeypatch.setattr(lifecycle_batch, "handlers_batched", lambda *_args, **_kw: nullcontext())
    one_by_one = _outbox_after_scoring(rt, ids)
    assert batched == one_by_one
    assert {r[1] for r in batched} == {"webhook", "email"} and len(batched) >= 10
