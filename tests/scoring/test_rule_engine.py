"""The incremental rule scorer: decay, expiry, caps, repeatable, negative rules, grades and bands."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rule_helpers import playbook

from funnelbridge.errors import PlaybookError
from funnelbridge.rules.facts import EventFact, LeadFacts
from funnelbridge.scoring.rules_engine import score_facts

AS_OF = datetime(2025, 6, 10, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def _score(scoring: dict[str, Any], events: list[EventFact], contact: dict[str, Any] | None = None, **pb: Any):
    facts = LeadFacts(contact=contact or {"email": "a@acme.com"}, events=events, as_of=AS_OF)
    return score_facts(playbook(scoring, **pb), facts, contact_id=1)


def test_half_life_decay_and_future_events_ignored() -> None:
    rules = {"engagement": [{"name": "dl", "event": "asset_download", "points": 20, "half_life": "10d"}]}
    main = _score(rules, [EventFact("asset_download", AS_OF - 10 * DAY), EventFact("asset_download", AS_OF + DAY)])[0]
    assert main.engagement == pytest.approx(10.0)
    item = main.explanation[0]
    assert (item.rule, item.kind, item.raw_points, item.events, item.half_life_days) == ("dl", "engagement", 20, 1, 10)


def test_expiry_is_inclusive() -> None:
    rules = {"engagement": [{"name": "click", "event": "email_click", "points": 3, "expires_after": "60d"}]}
    at_edge = _score(rules, [EventFact("email_click", AS_OF - 60 * DAY)])[0]
    past = _score(rules, [EventFact("email_click", AS_OF - 60 * DAY - timedelta(seconds=1))])[0]
    assert at_edge.engagement == 3 and past.engagement == 0 and past.explanation == ()
    assert at_edge.explanation[0].expires_at == AS_OF.isoformat()


def test_per_day_cap_first_events_of_the_day_earn_then_decay() -> None:
    rules = {
        "engagement": [
            {"name": "p", "event": "page_view", "points": 10, "cap": {"per_day": 25, "total": 100}, "half_life": "1d"}
        ]
    }
    day = AS_OF.replace(hour=0) - 2 * DAY
    views = [EventFact("page_view", day + timedelta(hours=h)) for h in (8, 9, 10, 11)]
    main = _score(rules, views)[0]
    ages = [(AS_OF - e.occurred_at).total_seconds() / 86400 for e in views]
    expected = 10 * 0.5 ** ages[0] + 10 * 0.5 ** ages[1] + 5 * 0.5 ** ages[2]
    assert main.engagement == pytest.approx(expected)
    assert main.explanation[0].raw_points == 25 and main.explanation[0].events == 4


def test_per_day_cap_uses_playbook_time_zone() -> None:
    rules = {"engagement": [{"name": "p", "event": "page_view", "points": 10, "cap": {"per_day": 10}}]}
    # 21:30 and 22:30 UTC on June 1st: one day in UTC, but 23:30 June 1st and 00:30 June 2nd in Berlin.
    views = [EventFact("page_view", datetime(2025, 6, 1, h, 30, tzinfo=UTC)) for h in (21, 22)]
    assert _score(rules, views)[0].engagement == 10
    assert _score(rules, views, timezone="Europe/Berlin")[0].engagement == 20


def test_total_cap_applies_to_the_decayed_sum_and_once_counts_the_earliest() -> None:
    rules = {
        "engagement": [
            {"name": "c", "event": "email_click", "points": 3, "cap": {"total": 5}},
            {"name": "demo", "event": "demo_request", "points": 50, "repeatable": False, "half_life": "60d"},
        ]
    }
    evs = [EventFact("email_click", AS_OF - i * DAY) for i in range(4)]
    evs += [EventFact("demo_request", AS_OF - 60 * DAY), EventFact("demo_request", AS_OF)]
    main = _score(rules, evs)[0]
    assert main.engagement == pytest.approx(5 + 25)


def test_negative_rules_grades_bands_and_quadrant() -> None:
    scoring = {
        "fit": [{"name": "vp", "when": {"field": "contact.title", "op": "matches", "value": "vp"}, "points": 45}],
        "engagement": [{"event": "webinar", "points": 60}],
        "negative": [
            {
                "name": "student",
                "when": {"field": "contact.title", "op": "contains", "value": "student"},
                "points": -30,
            },
            {"name": "unsub", "event": "unsubscribe", "points": -20},
        ],
        "grades": {"A": 40, "B": 25, "C": 10},
        "temperature": {"hot": 70, "warm": 35},
        "mql": {"grades": ["A", "B"], "engagement": 50},
    }
    evs = [EventFact("webinar", AS_OF - DAY), EventFact("unsubscribe", AS_OF - DAY), EventFact("unsubscribe", AS_OF)]
    main = _score(scoring, evs, contact={"title": "VP student"})[0]
    assert (main.fit, main.engagement, main.negative) == (45, 60, -50)  # unsubscribe counts once by default
    assert (main.total, main.grade, main.temperature, main.quadrant, main.mql_eligible) == (
        55,
        "A",
        "warm",
        "sales_ready",
        True,
    )
    low = _score(scoring, [], contact={"title": "intern"})[0]
    assert (low.grade, low.temperature, low.quadrant, low.mql_eligible) == ("D", "cold", "low_priority", False)


def test_score_groups_are_scored_beside_main() -> None:
    scoring = {
        "engagement": [{"event": "page_view", "points": 1}],
        "groups": {"product_x": {"engagement": [{"event": "trial", "points": 40, "half_life": "7d"}]}},
    }
    main, grp = _score(scoring, [EventFact("trial", AS_OF - 7 * DAY), EventFact("page_view", AS_OF)])
    assert (main.group, main.engagement) == ("main", 1)
    assert (grp.group, grp.engagement) == ("product_x", 20)


def test_score_fields_rejected_in_scoring_rules() -> None:
    with pytest.raises(PlaybookError, match=r"score\.\* fields"):
        playbook({"fit": [{"when": {"field": "score.total", "op": "gt", "value": 1}, "points": 1}]})


def test_decay_is_monotone_in_time() -> None:
    rules = {"engagement": [{"event": "x", "points": 7, "half_life": "3d"}]}
    values = [
        score_facts(playbook(rules), LeadFacts({}, events=[EventFact("x", AS_OF)], as_of=AS_OF + k * DAY))[0]
        for k in range(5)
    ]
    assert [v.engagement for v in values] == pytest.approx([7 * math.pow(0.5, k / 3) for k in range(5)])


def test_explanation_says_when_points_halve_or_expire() -> None:
    rules = {
        "engagement": [
            {"name": "dl", "event": "asset_download", "points": 20, "half_life": "10d"},
            {"name": "click", "event": "email_click", "points": 3, "expires_after": "30d"},
        ]
    }
    evs = [EventFact("asset_download", AS_OF - 4 * DAY), EventFact("email_click", AS_OF - 3 * DAY),
           EventFact("email_click", AS_OF - DAY)]  # fmt: skip
    dl, click = _score(rules, evs)[0].explanation
    assert dl.halves_at == (AS_OF + 10 * DAY).isoformat() and dl.expires_at is None
    at_halves = LeadFacts(contact={"email": "a@acme.com"}, events=evs, as_of=datetime.fromisoformat(dl.halves_at))
    later = score_facts(playbook(rules), at_halves, contact_id=1)[0].explanation[0]
    assert later.points == pytest.approx(dl.points / 2)
    assert click.expires_at == (AS_OF - 3 * DAY + 30 * DAY).isoformat() and click.halves_at is None
    assert click.points == 6
