"""Two paths, one answer: the batch scorer (Ibis on DuckDB) equals the incremental scorer on random playbooks,
leads, events and as-of times — every group, every number (to 1e-6), every band and the explanation."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from typing import Any

import ibis
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rule_helpers import playbook
from rule_strategies import AS_OFS, leads, scorings

from funnelbridge.rules.facts import LeadFacts
from funnelbridge.rules.ibis import lead_fields
from funnelbridge.scoring.batch import batch_conditions, score_tables
from funnelbridge.scoring.batch_load import events_from_facts, leads_from_facts
from funnelbridge.scoring.rules_engine import score_facts

_CON: list[Any] = []


def _con() -> Any:
    if not _CON:
        con = ibis.duckdb.connect()
        con.raw_sql("SET TimeZone = 'UTC'")
        _CON.append(con)
    return _CON[0]


def _at(facts: LeadFacts, as_of: datetime) -> LeadFacts:
    return LeadFacts(facts.contact, facts.account, None, facts.bant, facts.events, as_of)


def _same_item(batch: dict[str, Any], inc: dict[str, Any]) -> bool:
    for key in set(batch) | set(inc):
        a, b = batch.get(key), inc.get(key)
        if isinstance(b, float) and a is not None:
            if abs(a - b) > 1e-6:
                return False
        elif a != b:
            return False
    return True


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], str, datetime, list[tuple[int, LeadFacts]]]:
    as_of = draw(st.sampled_from(AS_OFS)) + timedelta(hours=draw(st.integers(0, 72)))
    tz = draw(st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]))
    return draw(scorings()), tz, as_of, draw(leads(as_of))


# Each example compiles and runs a DuckDB query (~0.3 s), so shrinking is off: a failure prints the raw example.
@settings(
    max_examples=int(os.environ.get("FB_AGREE_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(cases())
def test_batch_equals_incremental(case: tuple[dict[str, Any], str, datetime, list[tuple[int, LeadFacts]]]) -> None:
    scoring, tz, as_of, people = case
    pb = playbook(scoring, timezone=tz)
    lead_table = leads_from_facts(people, lead_fields(batch_conditions(pb.scoring)))
    rows = score_tables(pb, lead_table, events_from_facts(people), as_of, con=_con()).to_pylist()
    by_key = {(r["contact_id"], r["score_group"]): r for r in rows}
    assert len(by_key) == len(people) * (1 + len(pb.scoring.groups))
    for cid, facts in people:
        for inc in score_facts(pb, _at(facts, as_of), contact_id=cid):
            row = by_key[(cid, inc.group)]
            for key in ("fit", "engagement", "negative", "total"):
                assert row[key] == pytest.approx(getattr(inc, key), abs=1e-6), key
            assert (row["grade"], row["temperature"], row["quadrant"], row["mql_eligible"]) == (
                inc.grade, inc.temperature, inc.quadrant, inc.mql_eligible,
            )  # fmt: skip
            batch_items, inc_items = json.loads(row["explanation"]), inc.explanation_json()
            assert [i["rule"] for i in batch_items] == [i["rule"] for i in inc_items]
            assert all(_same_item(a, b) for a, b in zip(batch_items, inc_items, strict=True)), (batch_items, inc_items)


def test_scores_without_explanations_are_the_same_numbers() -> None:
    from datetime import UTC

    from funnelbridge.playbook.examples import example_path
    from funnelbridge.playbook.loader import load_playbook
    from funnelbridge.rules.facts import EventFact

    pb = load_playbook(example_path("b2b"))
    as_of = datetime(2025, 6, 1, tzinfo=UTC)
    evs = [EventFact("page_view", as_of - timedelta(days=d), path="/pricing") for d in range(5)]
    people = [(1, LeadFacts({"email": "vp@acme.com", "title": "VP"}, events=evs, as_of=as_of))]
    people.append((2, LeadFacts({"email": "x@gmail.com"}, as_of=as_of)))
    leads_t = leads_from_facts(people, lead_fields(batch_conditions(pb.scoring)))
    full = score_tables(pb, leads_t, events_from_facts(people), as_of, con=_con())
    bare = score_tables(pb, leads_t, events_from_facts(people), as_of, con=_con(), explain=False)
    assert full.drop_columns(["explanation"]).equals(bare.drop_columns(["explanation"]))
    assert set(bare.column("explanation").to_pylist()) == {"[]"}
