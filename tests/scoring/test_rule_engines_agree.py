"""The two condition compilers agree on random conditions: the Python predicate (one lead) and the Ibis
expression (all leads at once), on every Ibis engine the tests can run in-process — DuckDB (the batch scorer's)
and SQLite. Random conditions nest ``all``/``any``/``not`` over every operator, lists, blanks, missing accounts,
``events.*`` aggregates with type/where/within, and as-of times around the daylight-saving switch.

SQLite holds timestamps as text and Ibis compares them as text there, so the compiler refuses time conditions
(time fields, ``events.*``) on SQLite with an EngineError instead of answering wrong: the SQLite run draws
conditions without them, and a separate test checks the refusal."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import ibis
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rule_strategies import AS_OFS, lead_conditions, leads

from funnelbridge.errors import EngineError
from funnelbridge.rules.ast import leaves, parse_condition
from funnelbridge.rules.facts import LeadFacts
from funnelbridge.rules.fields import FieldType, field_type
from funnelbridge.rules.ibis import compile_event_condition, lead_fields, lead_frame
from funnelbridge.rules.python import compile_predicate
from funnelbridge.scoring.batch_load import events_from_facts, leads_from_facts

ENGINES = ("duckdb", "sqlite")


def _connect(engine: str) -> Any:
    if engine == "duckdb":
        con = ibis.duckdb.connect()
        con.raw_sql("SET TimeZone = 'UTC'")
        return con
    return ibis.sqlite.connect()


@pytest.fixture(scope="module", params=ENGINES)
def con(request: pytest.FixtureRequest) -> Iterator[Any]:
    backend = _connect(request.param)
    yield backend
    backend.disconnect()


def _timed(cond: dict[str, Any]) -> bool:
    return any(
        leaf.field.startswith("events.") or field_type(leaf.field) == FieldType.TIME
        for leaf in leaves(parse_condition(cond))
    )


@st.composite
def cases(draw: st.DrawFn, timed: bool) -> tuple[list[dict[str, Any]], datetime, list[tuple[int, LeadFacts]]]:
    as_of = draw(st.sampled_from(AS_OFS)) + timedelta(hours=draw(st.integers(0, 72)))
    conditions = lead_conditions if timed else lead_conditions.filter(lambda c: not _timed(c))
    return draw(st.lists(conditions, min_size=1, max_size=4)), as_of, draw(leads(as_of))


_COUNTER = [0]


@settings(
    max_examples=int(os.environ.get("FB_AGREE_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(st.data())
def test_ibis_equals_python_on_random_conditions(con: Any, data: st.DataObject) -> None:
    raw, as_of, people = data.draw(cases(timed=con.name == "duckdb"))
    conds = [parse_condition(c) for c in raw]
    _COUNTER[0] += 1
    suffix = _COUNTER[0]
    lead_t = con.create_table(f"leads_{suffix}", leads_from_facts(people, lead_fields(conds)), temp=True)
    event_t = con.create_table(f"events_{suffix}", events_from_facts(people), temp=True)
    frame = lead_frame(lead_t, event_t, conds, as_of)
    hits = {f"c{i}": frame.predicate(c) for i, c in enumerate(conds)}
    result = con.execute(frame.table.select("contact_id", **hits).order_by("contact_id"))
    for cid, facts in people:
        row = result[result.contact_id == cid].iloc[0]
        at = LeadFacts(facts.contact, facts.account, None, facts.bant, facts.events, as_of)
        for i, cond in enumerate(conds):
            assert bool(row[f"c{i}"]) == compile_predicate(cond)(at), (cid, raw[i])


def test_sqlite_refuses_time_conditions() -> None:
    con = _connect("sqlite")
    as_of = AS_OFS[0]
    people = [(1, LeadFacts({"email": "a@acme.com"}, as_of=as_of))]
    timed = [
        {"field": "events.count", "event": "page_view", "op": "gte", "value": 1},
        {"not": {"field": "contact.created_at", "op": "gte", "value": "2025-01-01"}},
        {"field": "contact.identified_at", "op": "exists"},
    ]
    for raw in timed:
        cond = parse_condition(raw)
        leads_t = con.create_table("leads", leads_from_facts(people, {"contact.email"}), temp=True, overwrite=True)
        with pytest.raises(EngineError, match="compares them as text"):
            lead_frame(leads_t, None, [cond], as_of)
    events_t = con.create_table("events", events_from_facts(people), temp=True)
    with pytest.raises(EngineError, match="'occurred_at' needs DuckDB"):
        compile_event_condition(events_t, parse_condition({"field": "occurred_at", "op": "exists"}))
    assert compile_event_condition(events_t, parse_condition({"field": "path", "op": "exists"})) is not None
    con.disconnect()
