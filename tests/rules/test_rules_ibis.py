"""The Ibis compiler agrees with the Python compiler, leaf by leaf, on a handful of leads (DuckDB)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import ibis
import pytest

from funnelbridge.errors import EngineError
from funnelbridge.rules.ast import parse_condition
from funnelbridge.rules.facts import EventFact, LeadFacts
from funnelbridge.rules.ibis import compile_event_condition, lead_fields, lead_frame, unsupported
from funnelbridge.rules.python import compile_predicate
from funnelbridge.scoring.batch_load import events_from_facts, leads_from_facts

AS_OF = datetime(2025, 6, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)

LEADS = [
    (1, LeadFacts({"email": "Jane@Acme.com", "title": "VP Sales", "bounced": False},
                  {"employees": 250, "industry": "Software", "technologies": ["Salesforce", "AWS"]},
                  events=[EventFact("page_view", AS_OF - 2 * DAY, path="/pricing"),
                          EventFact("page_view", AS_OF - 40 * DAY, path="/Pricing"),
                          EventFact("email_open", AS_OF + DAY)], as_of=AS_OF)),
    (2, LeadFacts({"email": "x@gmail.com", "title": None, "bounced": True}, None, as_of=AS_OF)),
    (3, LeadFacts({"email": "", "title": "student", "bounced": False},
                  {"employees": None, "industry": None, "technologies": []},
                  events=[EventFact("demo_request", AS_OF - DAY / 2)], as_of=AS_OF)),
]  # fmt: skip

CONDITIONS: list[dict[str, Any]] = [
    {"field": "contact.title", "op": "matches", "value": r"\bvp\b"},
    {"field": "contact.email", "op": "is_free_email"},
    {"field": "contact.email", "op": "domain_in", "value": ["acme.com"]},
    {"field": "contact.email", "op": "exists"},
    {"field": "contact.title", "op": "ne", "value": "student"},
    {"not": {"field": "contact.title", "op": "eq", "value": "student"}},
    {"field": "account.employees", "op": "between", "value": [100, 300]},
    {"field": "account.technologies", "op": "contains", "value": "salesforce"},
    {"field": "account.technologies", "op": "not_in", "value": ["hubspot"]},
    {"field": "account.technologies", "op": "not_exists"},
    {"field": "contact.bounced", "op": "eq", "value": True},
    {"field": "events.count", "event": "page_view", "op": "gte", "value": 2},
    {"field": "events.count", "event": "page_view", "within": "30d", "op": "eq", "value": 1},
    {"field": "events.count", "op": "eq", "value": 0},
    {"field": "events.days_since_last", "event": "demo_request", "op": "lt", "value": 1},
    {"any": [{"field": "account.industry", "op": "in", "value": ["software"]}, {"all": []}]},
]


@pytest.fixture(scope="module")
def frame_and_con() -> Any:
    conds = [parse_condition(c) for c in CONDITIONS]
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")
    leads = con.create_table("leads", leads_from_facts(LEADS, lead_fields(conds)))
    events = con.create_table("events", events_from_facts(LEADS))
    return lead_frame(leads, events, conds, AS_OF), con


@pytest.mark.parametrize("cond", CONDITIONS)
def test_ibis_equals_python(cond: dict[str, Any], frame_and_con: Any) -> None:
    frame, con = frame_and_con
    node = parse_condition(cond)
    expr = frame.table.select("contact_id", hit=frame.predicate(node)).order_by("contact_id")
    batch = dict(con.execute(expr).itertuples(index=False))
    python = {cid: compile_predicate(node)(facts) for cid, facts in LEADS}
    assert batch == python


def test_event_conditions_and_unsupported_fields() -> None:
    con = ibis.duckdb.connect()
    events = con.create_table("events", events_from_facts(LEADS))
    cond = parse_condition({"field": "path", "op": "eq", "value": "/PRICING"})
    hits = con.execute(events.select(hit=compile_event_condition(events, cond)))["hit"].tolist()
    assert sorted(hits) == [False, False, True, True]
    props = parse_condition({"field": "properties.seconds", "op": "gt", "value": 3})
    assert unsupported([props]) == ["properties.seconds"]
    with pytest.raises(EngineError, match="Python path"):
        compile_event_condition(events, props)
