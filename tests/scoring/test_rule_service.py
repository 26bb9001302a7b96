"""score_contact / explain_contact against the real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from rule_helpers import T0, add_account, add_contact, add_events, playbook
from sqlalchemy import select

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.domain.events import EventBus, ScoreCrossed, TemperatureChanged
from funnelbridge.rules.facts import load_lead_facts
from funnelbridge.runtime import Runtime
from funnelbridge.scoring.service import explain_contact, score_contact
from funnelbridge.store import Database
from funnelbridge.store.tables import scores

SCORING = {
    "fit": [{"name": "big", "when": {"field": "account.employees", "op": "gte", "value": 100}, "points": 30}],
    "engagement": [{"name": "pricing", "event": "page_view", "points": 20, "half_life": "10d"}],
    "temperature": {"hot": 35, "warm": 15},
    "mql": {"grades": ["A", "B"], "engagement": 30},
    "groups": {"trial": {"engagement": [{"event": "trial_start", "points": 5}]}},
}


def _rt(db: Database) -> Runtime:
    pb = playbook(SCORING, automation=[{"on": "score_crossed", "threshold": 60, "do": ["assign"]}])
    return Runtime(db=db, playbook=pb, clock=FrozenClock(T0 + timedelta(days=30)), bus=EventBus(published=[]))


def test_score_contact_stores_rows_and_publishes_crossings(db: Database) -> None:
    rt = _rt(db)
    now = rt.clock.now()
    with db.transaction() as conn:
        acc = add_account(conn, domain="acme.com", employees=500)
        cid = add_contact(conn, email="a@acme.com", account_id=acc)
        add_events(conn, cid, [{"type": "page_view", "occurred_at": now - timedelta(days=1)}])
        first = score_contact(rt, conn, cid)
    assert first.main.fit == 30 and first.temperature == "warm"
    assert [type(e) for e in first.published] == [ScoreCrossed, TemperatureChanged]  # crossed warm (15)
    with db.transaction() as conn:
        add_events(conn, cid, [{"type": "page_view", "occurred_at": now}, {"type": "trial_start", "occurred_at": now}])
        second = score_contact(rt, conn, cid)
    crossed = {(e.measure, e.threshold) for e in second.published if isinstance(e, ScoreCrossed)}
    assert crossed == {("engagement", 30.0), ("engagement", 35.0), ("total", 60.0)}
    assert second.mql_eligible and second.groups["trial"].engagement == 5
    with db.read() as conn:
        rows = {r.score_group: r for r in conn.execute(select(scores))}
        facts = load_lead_facts(conn, cid, now)
    assert set(rows) == {"main", "trial"} and rows["main"].playbook_version == rt.playbook.version
    assert rows["main"].explanation[0]["rule"] == "big"
    assert facts.score is not None and facts.score["fit_grade"] == "B"
    assert facts.account is not None and facts.account["employees"] == 500
    assert len(facts.events) == 3


def test_explain_contact_does_not_store(db: Database) -> None:
    rt = _rt(db)
    with db.transaction() as conn:
        cid = add_contact(conn, email="b@x.io")
        add_events(conn, cid, [{"type": "page_view", "occurred_at": rt.clock.now() - timedelta(days=10)}])
    result = explain_contact(rt, cid)
    assert result.main.engagement == 10
    with db.read() as conn:
        assert conn.execute(select(scores)).first() is None
