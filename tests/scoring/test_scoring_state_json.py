"""The state's JSON: format 2 (sparse) round-trips exactly; format 1 (dense, as stored before) still loads into the
same state, so stored states need no migration."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rule_helpers import playbook
from rule_strategies import AS_OFS, leads, scorings

from funnelbridge.scoring.incremental import LeadState, RuleState, scorer_for
from funnelbridge.scoring.state_json import FORMAT, dump_state, load_state


def _dense(state: LeadState) -> dict[str, Any]:
    """Format 1, as the store held it before format 2."""

    def rule(rs: RuleState | None) -> list[Any] | None:
        if rs is None:
            return None
        return [rs.done, rs.day, rs.day_n, rs.n, rs.raw, rs.s, rs.anchor, [list(x) for x in rs.live]]

    return {
        "v": state.version, "t": state.last_us, "n": state.events, "w": state.watermark,
        "r": [[rule(rs) for rs in group] for group in state.rules],
        "a": [[a.n, a.newest, list(a.times)] for a in state.aggregates],
    }  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scoring=scorings(), as_of=st.sampled_from(AS_OFS), data=st.data())
def test_both_formats_load_the_same_state(scoring: dict[str, Any], as_of: Any, data: st.DataObject) -> None:
    pb = playbook(scoring)
    scorer = scorer_for(pb)
    for cid, facts in data.draw(leads(as_of)):
        state = scorer.replay(facts.events, as_of)
        state.watermark = cid * 7
        stored = dump_state(state)
        assert stored["f"] == FORMAT
        sparse = load_state(scorer, json.loads(json.dumps(stored)))
        dense = load_state(scorer, json.loads(json.dumps(_dense(state))))
        assert sparse is not None and dense is not None
        assert dump_state(sparse) == dump_state(dense) == stored
        assert sparse.active == dense.active == state.active
        later = as_of + timedelta(days=3)
        assert scorer.aggregate_values(sparse, later) == scorer.aggregate_values(state, later)


def test_states_that_do_not_fit_do_not_load() -> None:
    scorer = scorer_for(playbook({"engagement": [{"event": "page_view", "points": 5}]}))
    good = dump_state(scorer.new_state())
    assert load_state(scorer, good) is not None
    assert load_state(scorer, None) is None
    for bad in (
        {**good, "r": [[0, 5, False, None, 0, 1, 5.0, 5.0, 0, []]]},  # no such rule
        {**good, "r": [[-1, 0, False, None, 0, 1, 5.0, 5.0, 0, []]]},
        {**good, "r": [[0, 0, False, None, 0, 1, 5.0, 5.0, 0, []]] * 2},  # twice
        {**good, "a": [[3, 1, 5, []]]},  # no such aggregate
        {**good, "r": "x"},
        {k: v for k, v in good.items() if k != "w"},
        {"garbage": 1},
    ):
        assert load_state(scorer, bad) is None
