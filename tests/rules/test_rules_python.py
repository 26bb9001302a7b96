"""The Python compiler: leaf operators, missing values, lists, event aggregates, combinators."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from funnelbridge.rules.ast import parse_condition
from funnelbridge.rules.facts import EventFact, LeadFacts
from funnelbridge.rules.python import compile_event_predicate, compile_predicate

AS_OF = datetime(2025, 6, 1, 12, tzinfo=UTC)


def _facts(**contact: Any) -> LeadFacts:
    account = {"domain": "acme.com", "employees": 250, "industry": "Software", "technologies": ["Salesforce", "AWS"]}
    events = [
        EventFact("page_view", AS_OF - timedelta(days=40), path="/pricing"),
        EventFact("page_view", AS_OF - timedelta(days=2), path="/pricing"),
        EventFact("page_view", AS_OF - timedelta(days=1), path="/blog/x", properties={"seconds": 30}),
        EventFact("email_open", AS_OF - timedelta(hours=1)),
        EventFact("demo_request", AS_OF + timedelta(days=1)),  # after as_of: not a fact yet
    ]
    base = {"email": "Jane@Acme.com", "title": "VP Sales", "bounced": False, "properties": {"tier": "gold"}}
    return LeadFacts(
        contact={**base, **contact}, account=account, score={"engagement": 55.0}, events=events, as_of=AS_OF
    )


def holds(cond: dict[str, Any], facts: LeadFacts | None = None) -> bool:
    return compile_predicate(parse_condition(cond))(facts or _facts())


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ({"field": "contact.title", "op": "matches", "value": r"\bvp\b"}, True),
        ({"field": "contact.title", "op": "matches", "value": r"\bvp\b", "case_sensitive": True}, False),
        ({"field": "contact.email", "op": "eq", "value": "jane@acme.com"}, True),
        ({"field": "contact.email", "op": "is_free_email"}, False),
        ({"field": "contact.email", "op": "domain_in", "value": ["ACME.com"]}, True),
        ({"field": "account.employees", "op": "between", "value": [50, 250]}, True),
        ({"field": "account.employees", "op": "gt", "value": 250}, False),
        ({"field": "account.industry", "op": "in", "value": ["software", "finance"]}, True),
        ({"field": "account.technologies", "op": "contains", "value": "salesforce"}, True),
        ({"field": "account.technologies", "op": "not_in", "value": ["hubspot"]}, True),
        ({"field": "account.technologies", "op": "in", "value": ["hubspot"]}, False),
        ({"field": "contact.phone", "op": "exists"}, False),
        ({"field": "contact.phone", "op": "not_exists"}, True),
        ({"field": "contact.phone", "op": "ne", "value": "x"}, False),  # missing → false, even for ne
        ({"not": {"field": "contact.phone", "op": "eq", "value": "x"}}, True),
        ({"field": "contact.bounced", "op": "eq", "value": False}, True),
        ({"field": "contact.properties.tier", "op": "eq", "value": "GOLD"}, True),
        ({"field": "score.engagement", "op": "gte", "value": 50}, True),
        ({"field": "events.count", "event": "page_view", "op": "eq", "value": 3}, True),
        ({"field": "events.count", "event": "page_view", "within": "30d", "op": "eq", "value": 2}, True),
        ({"field": "events.count", "event": "demo_request", "op": "gte", "value": 1}, False),
        (
            {
                "field": "events.count",
                "event": "page_view",
                "where": {"field": "path", "op": "eq", "value": "/pricing"},
                "op": "eq",
                "value": 2,
            },
            True,
        ),
        ({"field": "events.days_since_last", "event": "email_open", "op": "lt", "value": 0.05}, True),
        ({"field": "events.days_since_last", "event": "webinar", "op": "lt", "value": 100}, False),
        ({"all": []}, True),
        ({"any": []}, False),
        (
            {
                "all": [
                    {"field": "contact.title", "op": "contains", "value": "sales"},
                    {"any": [{"field": "account.country", "op": "eq", "value": "DE"}, {"all": []}]},
                ]
            },
            True,
        ),
    ],
)
def test_leaf_and_combinators(cond: dict[str, Any], expected: bool) -> None:
    assert holds(cond) is expected


def test_free_email_and_missing_account() -> None:
    facts = LeadFacts(contact={"email": "someone@gmail.com"}, as_of=AS_OF)
    assert holds({"field": "contact.email", "op": "is_free_email"}, facts)
    assert not holds({"field": "account.employees", "op": "gte", "value": 0}, facts)
    assert holds({"field": "account.domain", "op": "not_exists"}, facts)


def test_event_predicate_properties_and_time() -> None:
    pred = compile_event_predicate(parse_condition({"field": "properties.seconds", "op": "gte", "value": 30}))
    assert pred(EventFact("page_view", AS_OF, properties={"seconds": 45}))
    assert not pred(EventFact("page_view", AS_OF, properties={"seconds": "45"}))  # text vs number: false
    assert not pred(EventFact("page_view", AS_OF))
    when = compile_event_predicate(parse_condition({"field": "occurred_at", "op": "gte", "value": "2025-06-01"}))
    assert when(EventFact("x", AS_OF)) and not when(EventFact("x", AS_OF - timedelta(days=1)))
