"""A contact in two pipelines at once (one per product line), each with its own stage, journey and history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from lifecycle_helpers import FULL_BANT, REP, add_contact, add_event, make_runtime, run_advance, set_score

from funnelbridge.lifecycle import accept, disqualify, open_deal, qualify, rebuild_projection, sales_queue, win_deal
from funnelbridge.playbook import parse_playbook
from funnelbridge.playbook.schema import Playbook
from funnelbridge.runtime import Runtime
from funnelbridge.store import Database
from funnelbridge.store.pipeline import all_states
from funnelbridge.store.transitions import trail

TWO_PIPELINES = """
name: Two product lines
timezone: Europe/Berlin
pipelines:
  crm:
    stages:
      - {id: visitor}
      - {id: lead, enter_when: {field: contact.email, op: exists}}
      - id: mql
        enter_when: {field: events.count, event: demo_request, op: gte, value: 1}
      - {id: sal, owner: sales, by: sales, sla: {decide_within: 8h, business_hours: true}}
      - {id: sql, owner: sales, by: sales, requires: [bant.budget, bant.need]}
      - {id: opportunity, owner: sales, by: sales}
      - {id: customer, owner: sales, by: system}
  analytics:
    stages:
      - {id: lead, enter_when: {field: contact.email, op: exists}}
      - id: mql
        enter_when:
          field: events.count
          event: page_view
          where: {field: path, op: starts_with, value: /analytics}
          op: gte
          value: 2
      - {id: sal, owner: sales, by: sales}
      - {id: customer, owner: sales, by: system}
    stall_after: {mql: 7d}
"""


@pytest.fixture
def two() -> Playbook:
    return parse_playbook(TWO_PIPELINES, "two.yaml")


@pytest.fixture
def rt2(db: Database, two: Playbook) -> Runtime:
    return make_runtime(db, two)


def stages(rt: Runtime, cid: int) -> dict[str, str]:
    with rt.db.read() as conn:
        return {s.pipeline: s.stage for s in all_states(conn, cid)}


def test_each_pipeline_moves_on_its_own_criteria(rt2: Runtime) -> None:
    cid = add_contact(rt2)
    set_score(rt2, cid)
    made = run_advance(rt2, cid)
    assert {(t.pipeline, t.to_stage) for t in made} == {("crm", "lead"), ("analytics", "lead")}
    add_event(rt2, cid, "page_view", path="/analytics/pricing")
    add_event(rt2, cid, "page_view", path="/analytics/docs")
    assert [(t.pipeline, t.to_stage) for t in run_advance(rt2, cid)] == [("analytics", "mql")]
    add_event(rt2, cid, "demo_request")
    assert [(t.pipeline, t.to_stage) for t in run_advance(rt2, cid, "crm")] == [("crm", "mql")]
    assert stages(rt2, cid) == {"crm": "mql", "analytics": "mql"}
    assert {(i.pipeline, i.contact_id) for i in sales_queue(rt2)} >= {("crm", cid), ("analytics", cid)}


def test_commands_act_on_one_pipeline_and_histories_stay_apart(rt2: Runtime) -> None:
    cid = add_contact(rt2)
    add_event(rt2, cid, "demo_request")
    for path in ("/analytics/a", "/analytics/b"):
        add_event(rt2, cid, "page_view", path=path)
    run_advance(rt2, cid)
    accept(rt2, cid, REP, pipeline="crm")
    qualify(rt2, cid, REP, FULL_BANT, pipeline="crm")
    deal = open_deal(rt2, cid, REP, amount=900, pipeline="crm")
    win_deal(rt2, deal.deal_id, REP)
    disqualify(rt2, cid, REP, "competitor", pipeline="analytics")
    assert stages(rt2, cid) == {"crm": "customer", "analytics": "disqualified"}
    with rt2.db.read() as conn:
        crm = [t.to_stage for t in trail(conn, [cid], "crm")]
        analytics = [t.to_stage for t in trail(conn, [cid], "analytics")]
    assert crm == ["mql", "sal", "sql", "opportunity", "customer"]
    assert analytics == ["mql", "disqualified"]
    assert rebuild_projection(rt2).changed == 0


def test_disqualify_without_a_pipeline_disqualifies_everywhere(rt2: Runtime) -> None:
    cid = add_contact(rt2)
    run_advance(rt2, cid)
    made = disqualify(rt2, cid, REP.__class__("mia@acme.example", "marketing"), "spam", idempotency_key="dq")
    assert {t.pipeline for t in made} == {"crm", "analytics"}
    assert set(stages(rt2, cid).values()) == {"disqualified"}
    assert [t.id for t in disqualify(rt2, cid, REP, "spam", idempotency_key="dq")] == [made[0].id]


ADVOCACY = """
name: Referral-driven advocacy
pipelines:
  main:
    stages:
      - {id: lead, enter_when: {field: contact.email, op: exists}}
      - id: mql
        enter_when: {field: events.count, event: demo_request, op: gte, value: 1}
      - {id: sal, owner: sales, by: sales}
      - {id: customer, owner: sales, by: system}
      - id: evangelist
        by: marketing
        enter_when: {field: events.count, event: referral, op: gte, value: 1}
"""


def test_a_customer_becomes_an_evangelist_when_the_stage_criteria_hold(db: Database) -> None:
    rt = make_runtime(db, parse_playbook(ADVOCACY, "advocacy.yaml"))
    cid = add_contact(rt)
    add_event(rt, cid, "demo_request")
    run_advance(rt, cid)
    accept(rt, cid, REP)
    deal = open_deal(rt, cid, REP, amount=100)
    win_deal(rt, deal.deal_id, REP)
    assert run_advance(rt, cid) == []
    add_event(rt, cid, "referral")
    [t] = run_advance(rt, cid)
    assert (t.from_stage, t.to_stage, t.actor_role, t.reason) == ("customer", "evangelist", "system", "advocacy")


def test_automatic_moves_never_go_back_in_time(db: Database) -> None:
    rt = make_runtime(db, parse_playbook(ADVOCACY, "advocacy.yaml"))
    cid = add_contact(rt)
    add_event(rt, cid, "demo_request")
    run_advance(rt, cid)
    accept(rt, cid, REP)
    deal = open_deal(rt, cid, REP, amount=100)
    later = rt.clock.now() + timedelta(hours=2)
    win_deal(rt, deal.deal_id, REP, at=later)  # stamped ahead of the engine's clock
    add_event(rt, cid, "referral")
    [t] = run_advance(rt, cid)
    assert (t.to_stage, t.at) == ("evangelist", later)
