"""Hypothesis strategies for the rule-scoring property tests: conditions, playbooks, leads and events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from funnelbridge.rules.facts import EventFact, LeadFacts

EVENT_TYPES = ("page_view", "email_click", "demo_request", "unsubscribe", "webinar")
PATHS = ("/pricing", "/blog/a", "/blog/b", "/careers", "/", None)
EMAILS = ("ann@acme.com", "bob@gmail.com", "c@sub.acme.com", "d@rival.io", "E@WWW.Acme.Com", None, "")
TITLES = ("VP Sales", "vp of marketing", "Student", "Head of Ops", "intern", "Manager", None)
INDUSTRIES = ("software", "Finance", "retail", None)
TECH = (["Salesforce", "AWS"], ["hubspot"], [], None)
# around the March 2025 daylight-saving switch in Europe (30th) and the US (9th)
AS_OFS = (datetime(2025, 3, 31, 1, 30, tzinfo=UTC), datetime(2025, 3, 10, 12, tzinfo=UTC))


def _leaf(field: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    leaf = {"field": field, "op": op, **extra}
    if value is not None:
        leaf["value"] = value
    return leaf


path_conditions = st.one_of(
    st.builds(lambda v: _leaf("path", "eq", v), st.sampled_from(["/pricing", "/Pricing", "/careers"])),
    st.builds(lambda v: _leaf("path", "starts_with", v), st.sampled_from(["/blog", "/"])),
    st.builds(lambda v: _leaf("path", "matches", v), st.sampled_from([r"^/blog/[ab]$", "pric"])),
    st.just(_leaf("path", "exists")),
    st.just({"not": _leaf("path", "in", ["/", "/careers"])}),
)

lead_leaves = st.one_of(
    st.builds(
        lambda v, cs: _leaf("contact.email", "eq", v, case_sensitive=cs), st.sampled_from(EMAILS[:5]), st.booleans()
    ),
    st.just(_leaf("contact.email", "is_free_email")),
    st.builds(lambda v: _leaf("contact.email", "domain_in", v), st.sampled_from([["acme.com"], ["rival.io", "x.org"]])),
    st.builds(lambda op: _leaf("contact.email", op), st.sampled_from(["exists", "not_exists"])),
    st.builds(lambda v: _leaf("contact.email", "ends_with", v), st.sampled_from([".com", "ACME.COM"])),
    st.builds(
        lambda v, cs: _leaf("contact.title", "matches", v, case_sensitive=cs),
        st.sampled_from([r"\bvp\b", "^head", "stud|intern", "manager$"]),
        st.booleans(),
    ),
    st.builds(lambda v: _leaf("contact.title", "contains", v), st.sampled_from(["of", "VP"])),
    st.builds(lambda v: _leaf("contact.title", "ne", v), st.sampled_from(["Student", "x"])),
    st.builds(
        lambda op, v: _leaf("account.employees", op, v),
        st.sampled_from(["gt", "gte", "lt", "lte", "eq", "ne"]),
        st.sampled_from([0, 50, 200, 1000]),
    ),
    st.builds(lambda v: _leaf("account.employees", "between", v), st.sampled_from([[50, 200], [0, 10]])),
    st.builds(lambda v: _leaf("account.employees", "in", v), st.sampled_from([[50, 200], [7], []])),
    st.builds(
        lambda op, v: _leaf("account.industry", op, v),
        st.sampled_from(["in", "not_in"]),
        st.sampled_from([["software", "finance"], ["retail"], []]),
    ),
    st.builds(
        lambda op, v: _leaf("account.technologies", op, v),
        st.sampled_from(["contains", "eq", "ne"]),
        st.sampled_from(["salesforce", "HubSpot"]),
    ),
    st.builds(lambda op: _leaf("account.technologies", op, ["aws", "x"]), st.sampled_from(["in", "not_in"])),
    st.builds(lambda op: _leaf("account.technologies", op), st.sampled_from(["exists", "not_exists"])),
    st.builds(lambda v: _leaf("contact.bounced", "eq", v), st.booleans()),
    st.just(_leaf("contact.created_at", "gte", "2025-01-15T00:00:00+00:00")),
    st.builds(
        lambda ev, where, within, op, v: _leaf(
            "events.count",
            op,
            v,
            **({"event": ev} if ev else {}),
            **({"where": where} if where else {}),
            **({"within": within} if within else {}),
        ),
        st.sampled_from([None, *EVENT_TYPES]),
        st.one_of(st.none(), path_conditions),
        st.sampled_from([None, "7d", "36h"]),
        st.sampled_from(["gte", "eq", "lt"]),
        st.integers(0, 3),
    ),
    st.builds(
        lambda ev, op, v: _leaf("events.days_since_last", op, v, event=ev),
        st.sampled_from(EVENT_TYPES),
        st.sampled_from(["lt", "gte"]),
        st.sampled_from([1, 7.5]),
    ),
)

lead_conditions = st.recursive(
    lead_leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: {"all": xs}),
        st.lists(inner, max_size=3).map(lambda xs: {"any": xs}),
        inner.map(lambda x: {"not": x}),
    ),
    max_leaves=4,
)

durations = st.sampled_from(["1d", "7d", "36h", "2.5d"])


@st.composite
def event_rules(draw: st.DrawFn, negative: bool = False) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "event": draw(st.sampled_from(EVENT_TYPES)),
        "points": draw(st.sampled_from([-25, -3.5, -1]) if negative else st.sampled_from([1, 2.5, 10, 15, 50])),
        "repeatable": draw(st.booleans()),
    }
    if draw(st.booleans()):
        rule["where"] = draw(path_conditions)
    cap = {k: draw(st.sampled_from([3, 12.5, 40])) for k in ("per_day", "total") if draw(st.booleans())}
    if cap:
        rule["cap"] = cap
    decay = draw(st.sampled_from(["half_life", "expires_after", None]))
    if decay:
        rule[decay] = draw(durations)
    return rule


@st.composite
def scorings(draw: st.DrawFn) -> dict[str, Any]:
    fit = [{"when": draw(lead_conditions), "points": draw(st.integers(1, 30))} for _ in range(draw(st.integers(0, 3)))]
    neg_when = [
        {"when": draw(lead_conditions), "points": -draw(st.integers(1, 30))} for _ in range(draw(st.integers(0, 1)))
    ]
    scoring: dict[str, Any] = {
        "fit": fit,
        "engagement": draw(st.lists(event_rules(), max_size=4)),
        "negative": neg_when + draw(st.lists(event_rules(negative=True), max_size=2)),
        "grades": {"A": 40, "B": 20, "C": 5},
        "temperature": {"hot": 40, "warm": 10},
        "mql": {"grades": ["A", "B"], "engagement": 25},
    }
    if draw(st.booleans()):
        scoring["groups"] = {"extra": {"engagement": draw(st.lists(event_rules(), min_size=1, max_size=2))}}
    return scoring


@st.composite
def leads(draw: st.DrawFn, as_of: datetime) -> list[tuple[int, LeadFacts]]:
    out = []
    for cid in range(1, draw(st.integers(1, 5)) + 1):
        events = [
            EventFact(
                draw(st.sampled_from(EVENT_TYPES)),
                as_of - timedelta(seconds=draw(st.integers(-2 * 86400, 20 * 86400))),
                path=draw(st.sampled_from(PATHS)),
            )
            for _ in range(draw(st.integers(0, 12)))
        ]
        events.sort(key=lambda e: e.occurred_at)
        contact = {
            "email": draw(st.sampled_from(EMAILS)),
            "title": draw(st.sampled_from(TITLES)),
            "bounced": draw(st.booleans()),
            "created_at": datetime(2025, 1, draw(st.integers(1, 28)), tzinfo=UTC),
        }
        account = None
        if draw(st.booleans()):
            account = {
                "employees": draw(st.sampled_from([None, 7, 50, 200, 5000])),
                "industry": draw(st.sampled_from(INDUSTRIES)),
                "technologies": draw(st.sampled_from(TECH)),
            }
        out.append((cid, LeadFacts(contact, account, events=events, as_of=as_of)))
    return out
