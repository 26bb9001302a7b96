"""The incremental scorer equals the full recompute (``score_facts``): random playbooks, leads and events replayed
one by one in time order, scored after every event and at any later as-of time, through a JSON round trip too."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from incremental_helpers import assert_same
from rule_helpers import playbook
from rule_strategies import AS_OFS, lead_conditions, leads, scorings

from funnelbridge.rules.facts import EventFact, LeadFacts
from funnelbridge.scoring.incremental import IncrementalScorer, scorer_for
from funnelbridge.scoring.incremental_store import dump_state, load_state
from funnelbridge.scoring.rules_engine import score_facts


def _at(facts: LeadFacts, events: list[EventFact], as_of: datetime) -> LeadFacts:
    return LeadFacts(facts.contact, facts.account, None, facts.bant, events, as_of)


def _round_trip(scorer: IncrementalScorer, state: Any) -> Any:
    loaded = load_state(scorer, json.loads(json.dumps(dump_state(state))))
    assert loaded is not None
    return loaded


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], str, datetime, list[tuple[int, LeadFacts]], Any]:
    as_of = draw(st.sampled_from(AS_OFS)) + timedelta(hours=draw(st.integers(0, 72)))
    tz = draw(st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]))
    return draw(scorings()), tz, as_of, draw(leads(as_of)), draw(st.randoms(use_true_random=False))


@settings(
    max_examples=int(os.environ.get("FB_INCREMENTAL_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cases())
def test_incremental_equals_full_recompute(case: Any) -> None:
    scoring, tz, as_of, people, rnd = case
    pb = playbook(scoring, timezone=tz)
    scorer = scorer_for(pb)
    for cid, facts in people:
        history = sorted((e for e in facts.events if e.occurred_at <= as_of), key=lambda e: e.occurred_at)
        state = scorer.new_state()
        unread = []  # scores whose (lazy) explanation is first read after later events changed the state
        for k, event in enumerate(history):
            assert scorer.apply(state, event)
            if rnd.random() < 0.3:
                state = _round_trip(scorer, state)
            upto = history[k + 1].occurred_at if k + 1 < len(history) else as_of
            at = event.occurred_at + (upto - event.occurred_at) * rnd.random()
            ref = score_facts(pb, _at(facts, history[: k + 1], at), contact_id=cid)
            got = scorer.score(state, _at(facts, [], at), contact_id=cid)
            if rnd.random() < 0.5:
                assert_same(got, ref)
            else:
                unread.append((got, ref))
        for got, ref in unread:
            assert_same(got, ref)
        final = _at(facts, history, as_of)
        assert_same(scorer.score(state, _at(facts, [], as_of), contact_id=cid), score_facts(pb, final, contact_id=cid))
        later = as_of + timedelta(days=rnd.choice([0.5, 3, 40]))
        assert_same(
            scorer.score(state, _at(facts, [], later), contact_id=cid),
            score_facts(pb, _at(facts, history, later), contact_id=cid),
        )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cond=lead_conditions, case=cases())
def test_stage_criteria_read_the_same_aggregates(cond: dict[str, Any], case: Any) -> None:
    """The aggregates the state keeps answer stage criteria as scanning the events does."""
    from funnelbridge.rules.python import compile_predicate

    scoring, tz, as_of, people, _ = case
    stages = {"main": {"stages": [{"id": "visitor"}, {"id": "lead", "enter_when": cond}]}}
    pb = playbook(scoring, timezone=tz, pipelines=stages)
    scorer = scorer_for(pb)
    predicate = compile_predicate(pb.pipelines["main"].stage("lead").enter_when)  # type: ignore[arg-type]
    for _, facts in people:
        full = _at(facts, [e for e in facts.events if e.occurred_at <= as_of], as_of)
        state = scorer.replay(facts.events, as_of)
        known = scorer.aggregate_values(state, as_of)
        quick = LeadFacts(facts.contact, facts.account, None, facts.bant, (), as_of, known)
        assert predicate(quick) == predicate(full)


def test_out_of_order_event_is_refused_and_state_unchanged() -> None:
    pb = playbook({"engagement": [{"event": "page_view", "points": 5}]})
    scorer = scorer_for(pb)
    t = datetime(2025, 3, 1, tzinfo=UTC)
    state = scorer.new_state()
    assert scorer.apply(state, EventFact("page_view", t))
    assert not scorer.apply(state, EventFact("page_view", t - timedelta(seconds=1)))
    assert state.events == 1
    assert not scorer.can_score(state, t - timedelta(seconds=1))
    assert scorer.can_score(state, t)


def test_state_of_another_playbook_version_does_not_load() -> None:
    a = scorer_for(playbook({"engagement": [{"event": "page_view", "points": 5}]}))
    b = scorer_for(playbook({"engagement": [{"event": "page_view", "points": 6}]}))
    state = a.replay([EventFact("page_view", datetime(2025, 3, 1, tzinfo=UTC))], datetime(2025, 3, 2, tzinfo=UTC))
    assert load_state(a, dump_state(state)) is not None
    assert load_state(b, dump_state(state)) is None
    assert load_state(a, {"garbage": 1}) is None


def test_new_attribute_values_are_not_answered_from_the_cache() -> None:
    pb = playbook({"fit": [{"when": {"field": "contact.title", "op": "eq", "value": "VP"}, "points": 10}]})
    scorer = scorer_for(pb)
    at = datetime(2025, 3, 1, tzinfo=UTC)
    state = scorer.new_state()
    assert scorer.score(state, LeadFacts({"title": "VP"}, as_of=at))[0].fit == 10
    assert scorer.score(state, LeadFacts({"title": "CEO"}, as_of=at))[0].fit == 0
    assert scorer.score(state, LeadFacts({"title": "VP"}, as_of=at))[0].fit == 10


def test_answers_remembered_across_leads_tell_values_apart_by_type() -> None:
    """Leads with the same field values share the attribute rules' answers, told apart by type (1 and True may
    compare differently); unhashable values (lists) are evaluated each time — always the full recompute's."""
    when = {"field": "contact.properties.flag", "op": "eq", "value": True}
    tech = {"field": "account.technologies", "op": "contains", "value": "crm"}
    pb = playbook({"fit": [{"when": when, "points": 10}, {"when": tech, "points": 5}]})
    scorer = scorer_for(pb)
    at = datetime(2025, 3, 1, tzinfo=UTC)
    for flag, crm in [(True, ["crm"]), (1, ["x"]), (True, ["x"]), (1, ["crm"]), (None, None), (True, None)]:
        account = None if crm is None else {"technologies": crm}
        facts = LeadFacts({"properties": {"flag": flag}}, account, as_of=at)
        got = scorer.score(scorer.new_state(), facts)[0].fit
        assert got == score_facts(pb, facts)[0].fit


def test_events_matched_by_fields_not_remembered_and_with_a_full_match_cache(monkeypatch: Any) -> None:
    """``where`` on a property is evaluated for every event; on a text field the answer is remembered per value,
    the memory emptied when full — either way the score is that of the full recompute."""
    import funnelbridge.scoring.incremental as incremental

    monkeypatch.setattr(incremental, "MATCH_CACHE_LIMIT", 2)
    pb = playbook(
        {
            "engagement": [
                {"event": "page_view", "where": {"field": "properties.plan", "op": "eq", "value": "pro"}, "points": 5},
                {"event": "page_view", "where": {"field": "campaign", "op": "eq", "value": "spring"}, "points": 3},
                {"event": "email_click", "where": {"field": "path", "op": "starts_with", "value": "/p"}, "points": 2},
            ]
        }
    )
    t = datetime(2025, 3, 1, tzinfo=UTC)
    history = [
        EventFact("page_view", t, campaign="spring", properties={"plan": "pro"}),
        EventFact("page_view", t + timedelta(hours=1), properties={"plan": "free"}),
        *(EventFact("email_click", t + timedelta(hours=2 + k), path=p) for k, p in enumerate(["/p1", "/x", "/p2"])),
    ]
    scorer = incremental.IncrementalScorer(pb)
    state = scorer.replay(history, t + timedelta(days=1))
    assert len(scorer._plans["email_click"].cache) <= 2 and not scorer._plans["page_view"].cache
    at = _at(LeadFacts({}), [], t + timedelta(days=1))
    assert_same(scorer.score(state, at), score_facts(pb, _at(LeadFacts({}), history, at.as_of)))
    assert scorer.score(state, at)[0].engagement == 5 + 3 + 2 + 2
