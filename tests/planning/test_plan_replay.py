"""``plan_playbook``: would-be MQLs, conversion, movers and weekly load checked against a direct computation."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from plan_helpers import T0, end_of, insert, leads, playbook

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.planning import plan_playbook
from funnelbridge.planning.replay import replay_history
from funnelbridge.playbook.examples import example_path
from funnelbridge.playbook.loader import parse_playbook
from funnelbridge.runtime import Runtime
from funnelbridge.scoring.predictive.store_history import History, LeadHistory, load_history
from funnelbridge.store import Database
from funnelbridge.store.tables import events


def _expected(chosen, threshold, since=None):  # type: ignore[no-untyped-def]
    return [
        lead for lead in chosen if lead.downloads * 15 >= threshold and (since is None or lead.downloaded_at >= since)
    ]


def test_stricter_threshold_fewer_mqls_higher_customer_rate(db: Database) -> None:
    chosen = leads(40)
    insert(db, chosen)
    rt = Runtime(db=db, playbook=playbook(50), clock=FrozenClock(end_of(chosen)))
    report = plan_playbook(rt, playbook(70))
    now, strict = _expected(chosen, 50), _expected(chosen, 70)
    assert report.current.mqls == len(now) == report.actual_mqls
    assert report.proposed.mqls == len(strict) < report.current.mqls
    assert report.current.mql_ids == tuple(lead.contact_id for lead in now)
    for outcome, group in ((report.current, now), (report.proposed, strict)):
        buyers = sum(1 for lead in group if "customer" in lead.reached)
        assert outcome.reached["customer"] == buyers
        assert outcome.conversion["customer"] == buyers / len(group)
        assert outcome.reached["sal"] == sum(1 for lead in group if lead.reached)
        assert sum(outcome.weekly_load.values()) == outcome.mqls
        assert sum(outcome.grades.values()) == len(chosen) and outcome.grades == {"A": len(chosen)}
    assert report.proposed.conversion["customer"] > report.current.conversion["customer"]  # type: ignore[operator]
    assert report.leaving == tuple(lead.contact_id for lead in chosen if lead.downloads == 4)
    assert report.entering == ()


def test_since_selects_who_entered_in_the_period(sqlite_db: Database) -> None:
    chosen = leads(40)
    insert(sqlite_db, chosen)
    since = T0 + timedelta(days=20)
    rt = Runtime(db=sqlite_db, playbook=playbook(50), clock=FrozenClock(end_of(chosen)))
    report = plan_playbook(rt, playbook(70), since=since)
    assert report.current.mqls == len(_expected(chosen, 50, since)) == report.actual_mqls
    assert report.proposed.mqls == len(_expected(chosen, 70, since))
    assert all(week >= "2026-03-16" for week in report.proposed.weekly_load)  # weeks start on Monday (Berlin)


def test_weekly_load_counts_by_monday_in_the_playbook_zone(sqlite_db: Database) -> None:
    chosen = leads(14)
    insert(sqlite_db, chosen)
    rt = Runtime(db=sqlite_db, playbook=playbook(50), clock=FrozenClock(end_of(chosen)))
    load = plan_playbook(rt, playbook(50)).current.weekly_load
    expected: dict[str, int] = {}
    for lead in _expected(chosen, 50):
        day = (lead.downloaded_at + timedelta(hours=1)).date()  # Berlin is UTC+1 in March
        monday = (day - timedelta(days=day.weekday())).isoformat()
        expected[monday] = expected.get(monday, 0) + 1
    assert load == expected


def _memory_history() -> History:
    from funnelbridge.rules.facts import EventFact

    out = []
    for lead in leads(21):
        seen = lead.downloaded_at - timedelta(hours=1)
        contact = {"id": lead.contact_id, "email": f"vp{lead.contact_id}@acme.example", "title": "VP Sales",
                   "identified_at": seen, "updated_at": seen}  # fmt: skip
        account = {"industry": "software", "employees": 2000, "country": "DE", "technologies": ["salesforce"]}
        evs = tuple(EventFact("asset_download", lead.downloaded_at) for _ in range(lead.downloads))
        out.append(LeadHistory(lead.contact_id, contact, account, evs, {}))
    return History(end_of(leads(21)), "main", tuple(out))


HISTORY = _memory_history()


@settings(max_examples=15, deadline=None)
@given(low=st.integers(0, 100), step=st.integers(0, 60))
def test_a_higher_threshold_never_adds_mqls(low: int, step: int) -> None:
    loose = {r.contact_id for r in replay_history(playbook(low), HISTORY) if r.mql_at is not None}
    strict = {r.contact_id for r in replay_history(playbook(low + step), HISTORY) if r.mql_at is not None}
    assert strict <= loose
    assert loose == {lead.contact_id for lead in leads(21) if lead.downloads * 15 >= low}


def test_relevant_event_types() -> None:
    from funnelbridge.planning.replay import relevant_event_types

    types = relevant_event_types(playbook(50))
    assert types is not None and {"demo_request", "asset_download", "page_view", "email_bounce"} <= types
    assert "webinar_registered" not in types
    text = (
        example_path("b2b")
        .read_text(encoding="utf-8")
        .replace(
            "{field: events.count, event: demo_request, op: gte, value: 1}", "{field: events.count, op: gte, value: 9}"
        )
    )
    assert relevant_event_types(parse_playbook(text)) is None  # a count of every event: every type matters


def test_skipping_irrelevant_events_changes_nothing(sqlite_db: Database) -> None:
    from funnelbridge.planning.replay import replay_lead

    chosen = leads(14)
    insert(sqlite_db, chosen)
    with sqlite_db.transaction() as conn:  # noise: types nobody scores, between the downloads
        rows = [
            {"idempotency_key": f"n-{lead.contact_id}-{k}", "contact_id": lead.contact_id, "type": "webinar_registered",
             "occurred_at": lead.downloaded_at + timedelta(hours=k - 3), "received_at": T0, "properties": {}}
            for lead in chosen for k in range(6)
        ]  # fmt: skip
        conn.execute(events.insert(), rows)
    pb = playbook(50)
    with sqlite_db.read() as conn:
        history = load_history(conn, end_of(chosen), "main")
    from funnelbridge.planning.replay import _criteria, relevant_event_types

    holds = _criteria(pb)
    for lead in history.leads:
        fast = replay_lead(pb, lead, history.as_of, holds, relevant_event_types(pb))
        assert fast == replay_lead(pb, lead, history.as_of, holds, None)
