"""Attribute rules' answers remembered rule by rule (:class:`~funnelbridge.scoring.attribute_memo.RuleMemo`): leads
drawn from small pools of field values (so that they share some fields and not others, with equal values of
different types and unhashable ones) score as the full recompute scores them, whatever the order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from rule_helpers import playbook

from funnelbridge.rules.facts import LeadFacts
from funnelbridge.scoring.attribute_memo import RuleMemo
from funnelbridge.scoring.incremental import scorer_for
from funnelbridge.scoring.rules_engine import score_facts

AT = datetime(2025, 3, 1, tzinfo=UTC)
RULES = {
    "fit": [
        {"when": {"field": "contact.title", "op": "eq", "value": "VP"}, "points": 10},
        {"when": {"field": "contact.properties.flag", "op": "eq", "value": True}, "points": 7},
        {"when": {"field": "account.employees", "op": "gte", "value": 100}, "points": 5},
        {"when": {"field": "account.technologies", "op": "contains", "value": "crm"}, "points": 3},
        {
            "when": {"all": [
                {"field": "contact.title", "op": "eq", "value": "VP"},
                {"field": "account.employees", "op": "lt", "value": 1000},
            ]},
            "points": 2,
        },
    ],
    "negative": [{"when": {"field": "contact.properties.flag", "op": "eq", "value": 1}, "points": -4}],
}  # fmt: skip

titles = st.sampled_from([None, "VP", "CEO", "vp"])
flags = st.sampled_from([None, True, 1, 1.0, False, 0])
employees = st.sampled_from([None, 50, 100, 100.0, 5000])
technologies = st.sampled_from([None, ["crm"], ["x"], []])
lead = st.tuples(titles, flags, st.booleans(), employees, technologies)


def _facts(title: Any, flag: Any, has_account: bool, size: Any, tech: Any) -> LeadFacts:
    account = {"employees": size, "technologies": tech} if has_account else None
    return LeadFacts({"title": title, "properties": {"flag": flag}}, account, as_of=AT)


@settings(max_examples=60, deadline=None)
@given(st.lists(lead, min_size=1, max_size=25))
def test_leads_score_as_the_full_recompute(drawn: list[tuple[Any, ...]]) -> None:
    scorer = scorer_for(playbook(RULES))  # a fresh scorer per example: its memory starts empty
    for values in drawn:
        facts = _facts(*values)
        got = scorer.score(scorer.new_state(), facts)
        ref = score_facts(scorer.playbook, facts)
        assert [(g.fit, g.negative, g.total) for g in got] == [(g.fit, g.negative, g.total) for g in ref]


def test_each_rule_is_answered_from_its_own_fields() -> None:
    calls: list[str] = []

    def pred(name: str, field: int) -> Any:
        def answer(facts: LeadFacts) -> bool:
            calls.append(name)
            return bool(facts.contact[f"f{field}"])

        return answer

    memo = RuleMemo.of(
        [[pred("a", 0), pred("b", 1), pred("dyn", 0)]], [[False, False, True]], [[["x"], ["y"], []]], ["x", "y"]
    )
    first = LeadFacts({"f0": 1, "f1": 0}, as_of=AT)
    assert memo.evaluate((1, 0), lambda: first) == [[True, False, True]]
    assert calls == ["a", "b", "dyn"]
    other = LeadFacts({"f0": 1, "f1": 5}, as_of=AT)
    assert memo.evaluate((1, 5), lambda: other) == [[True, True, True]]
    assert calls == ["a", "b", "dyn", "b", "dyn"]  # rule a: the same x; the dynamic rule: every time
    assert memo.evaluate((True, 5), lambda: other) == [[True, True, True]]
    assert calls[-2:] == ["a", "dyn"]  # True is not 1: evaluated
