"""The store path of incremental scoring: a lead goes on from its stored state with only its new events, and falls
back to the full recompute when it must — on SQLite and PostgreSQL. Every answer equals ``explain_contact``
(``score_facts`` over all the lead's facts)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from incremental_helpers import assert_same
from rule_helpers import T0, add_account, add_contact, add_events, playbook
from sqlalchemy import select, update

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.domain.events import EventBus
from funnelbridge.playbook.schema import Playbook
from funnelbridge.runtime import Runtime
from funnelbridge.scoring.incremental_store import ScoredLead, score_leads
from funnelbridge.scoring.service import explain_contact, score_contacts, store_scored
from funnelbridge.store import Database
from funnelbridge.store.tables import events, scores

SCORING: dict[str, Any] = {
    "fit": [
        {"name": "big", "when": {"field": "account.employees", "op": "gte", "value": 100}, "points": 30},
        {"name": "busy", "when": {"field": "events.count", "op": "gte", "value": 2, "within": "7d"}, "points": 5},
    ],
    "engagement": [
        {"name": "pricing", "event": "page_view", "points": 20, "half_life": "10d", "cap": {"per_day": 30}},
        {"name": "clicks", "event": "email_click", "points": 3, "expires_after": "5d"},
        {"name": "demo", "event": "demo_request", "points": 50, "repeatable": False},
    ],
    "temperature": {"hot": 35, "warm": 15},
    "mql": {"grades": ["A", "B"], "engagement": 30},
    "groups": {"trial": {"engagement": [{"event": "trial_start", "points": 5}]}},
}
NOW = T0 + timedelta(days=30)


def _lead(db: Database, n: int = 0) -> int:
    with db.transaction() as conn:
        acc = add_account(conn, domain=f"acme{n}.com", employees=500 - n * 300)
        cid = add_contact(conn, email=f"a@acme{n}.com", account_id=acc)
        add_events(conn, cid, [{"type": t, "occurred_at": NOW - timedelta(days=d)} for t, d in _HISTORY])
    return cid


_HISTORY = [("page_view", 9), ("email_click", 6), ("page_view", 3), ("page_view", 3), ("demo_request", 2)]


def _score(db: Database, pb: Playbook, cid: int, at: datetime) -> ScoredLead:
    rt = Runtime(db=db, playbook=pb, clock=FrozenClock(at), bus=EventBus())
    with db.transaction() as conn:
        scored = score_leads(pb, conn, [cid], at)
        store_scored(rt, conn, scored)
    reference = explain_contact(rt, cid, at)
    assert_same(scored[0].results, (reference.main, *reference.groups.values()))
    return scored[0]


def _add(db: Database, cid: int, rows: list[tuple[str, datetime]]) -> None:
    with db.transaction() as conn:
        add_events(conn, cid, [{"type": t, "occurred_at": at} for t, at in rows])


def _stored_state(db: Database, cid: int) -> Any:
    with db.read() as conn:
        query = select(scores.c.state).where(scores.c.contact_id == cid, scores.c.score_group == "main")
        return conn.execute(query).scalar_one()


def test_goes_on_from_the_stored_state_with_only_new_events(db: Database) -> None:
    pb, cid = playbook(SCORING), _lead(db)
    assert not _score(db, pb, cid, NOW).incremental  # no state yet: the full recompute builds one
    assert _stored_state(db, cid)["n"] == len(_HISTORY)
    for step in range(1, 4):
        at = NOW + timedelta(hours=step * 20)
        _add(db, cid, [("page_view", at), ("email_click", at), ("trial_start", at)])
        assert _score(db, pb, cid, at + timedelta(hours=1)).incremental
    assert _score(db, pb, cid, NOW + timedelta(days=40)).incremental  # later, nothing new: decay and expiry only
    assert _stored_state(db, cid)["n"] == len(_HISTORY) + 9


def test_out_of_order_event_falls_back_to_the_full_recompute(db: Database) -> None:
    pb, cid = playbook(SCORING), _lead(db)
    _score(db, pb, cid, NOW)
    _add(db, cid, [("page_view", NOW - timedelta(days=20))])
    assert not _score(db, pb, cid, NOW + timedelta(hours=1)).incremental
    _add(db, cid, [("page_view", NOW + timedelta(hours=2))])
    assert _score(db, pb, cid, NOW + timedelta(hours=3)).incremental


def test_events_moved_in_by_a_merge_or_committed_late_are_noticed(db: Database) -> None:
    pb = playbook(SCORING)
    with db.transaction() as conn:  # its event's id is below the lead's
        other = add_contact(conn, email="b@acme.com")
        add_events(conn, other, [{"type": "demo_request", "occurred_at": NOW - timedelta(days=1)}])
    cid = _lead(db)
    _score(db, pb, cid, NOW)
    with db.transaction() as conn:  # the other lead's event now belongs to this lead
        conn.execute(update(events).where(events.c.contact_id == other).values(contact_id=cid))
    _add(db, cid, [("page_view", NOW + timedelta(hours=1))])
    assert not _score(db, pb, cid, NOW + timedelta(hours=2)).incremental


def test_a_future_event_keeps_the_state_out_until_it_is_due(db: Database) -> None:
    pb, cid = playbook(SCORING), _lead(db)
    _add(db, cid, [("page_view", NOW + timedelta(days=2))])
    assert _score(db, pb, cid, NOW).state is None
    assert _stored_state(db, cid) is None
    assert _score(db, pb, cid, NOW + timedelta(days=3)).state is not None
    assert _score(db, pb, cid, NOW + timedelta(days=4)).incremental


def test_another_playbook_version_or_an_earlier_as_of_recomputes(db: Database) -> None:
    pb, cid = playbook(SCORING), _lead(db)
    _score(db, pb, cid, NOW)
    changed = playbook({**SCORING, "temperature": {"hot": 36, "warm": 15}})
    assert not _score(db, changed, cid, NOW).incremental
    assert not _score(db, changed, cid, NOW - timedelta(days=3)).incremental


def test_many_leads_in_one_call_each_as_alone(db: Database) -> None:
    pb = playbook(SCORING)
    ids = [_lead(db, n) for n in range(3)]
    rt = Runtime(db=db, playbook=pb, clock=FrozenClock(NOW), bus=EventBus())
    with db.transaction() as conn:
        score_contacts(rt, conn, ids[:2])
    _add(db, ids[0], [("page_view", NOW + timedelta(hours=1))])
    later = NOW + timedelta(hours=2)
    with db.transaction() as conn:
        scored = score_leads(pb, conn, [ids[2], ids[0], ids[1]], later)
    assert [s.contact_id for s in scored] == [ids[2], ids[0], ids[1]]
    assert [s.incremental for s in scored] == [False, True, True]
    for s in scored:
        ref = explain_contact(Runtime(db=db, playbook=pb, clock=FrozenClock(later), bus=EventBus()), s.contact_id)
        assert_same(s.results, (ref.main, *ref.groups.values()))
