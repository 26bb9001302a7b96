"""``score_crossed`` both ways on both paths: incremental scoring (score_contact) and batch rescoring
(rescore_all) publish the same ScoreCrossed events for the same stored change — upward when points arrive,
downward when a negative event or decay takes them away, and a score landing exactly on a threshold counts as
crossed (``old < t <= new``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rule_helpers import T0, add_account, add_contact, add_events, playbook

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.domain.events import EventBus, ScoreCrossed, TemperatureChanged
from funnelbridge.runtime import Runtime
from funnelbridge.scoring.service import rescore_all, score_contact
from funnelbridge.store import Database

NOW = T0 + timedelta(days=30)
SCORING = {
    "fit": [{"name": "big", "when": {"field": "account.employees", "op": "gte", "value": 100}, "points": 30}],
    "engagement": [{"name": "pricing", "event": "page_view", "points": 15, "half_life": "10d"}],
    "negative": [{"name": "unsubscribed", "event": "email_unsubscribe", "points": -40}],
    "temperature": {"hot": 30, "warm": 15},
    "mql": {"grades": ["A", "B"], "engagement": 30},
}
AUTOMATION = [{"on": "score_crossed", "threshold": 60, "do": ["assign"]}]
# (events added before the step, as-of offset) -> what crosses, as (measure, threshold, upward)
STEPS: list[tuple[list[str], timedelta, set[tuple[str, float, bool]]]] = [
    # fit 30 + engagement 15 = 45: warm (15) reached exactly
    (["page_view"], timedelta(0), {("engagement", 15.0, True)}),
    # engagement 30 lands exactly on hot and MQL (30); total 60 exactly on the automation threshold
    (["page_view"], timedelta(0), {("engagement", 30.0, True), ("total", 60.0, True)}),
    # unsubscribed: total 20, engagement untouched
    (["email_unsubscribe"], timedelta(0), {("total", 60.0, False)}),
    # ten days on, the page views have halved: engagement 15 falls below hot/MQL, stays warm (15 <= 15)
    ([], timedelta(days=10), {("engagement", 30.0, False)}),
]


def _crossed(rt: Runtime) -> set[tuple[str, float, bool]]:
    return {(e.measure, e.threshold, e.upward) for e in rt.bus.published if isinstance(e, ScoreCrossed)}


@pytest.mark.parametrize("path", ["incremental", "batch"])
def test_crossings_both_ways_on_both_paths(db: Database, path: str) -> None:
    clock = FrozenClock(NOW)
    rt = Runtime(db, playbook(SCORING, automation=AUTOMATION), clock, EventBus(published=[]))
    with db.transaction() as conn:
        cid = add_contact(conn, email="a@acme.com", account_id=add_account(conn, domain="acme.com", employees=500))
    temperatures = []
    for types, later, expected in STEPS:
        clock.advance(later)
        rt.bus.published.clear()
        with db.transaction() as conn:
            add_events(conn, cid, [{"type": t, "occurred_at": clock.now()} for t in types])
            if path == "incremental":
                score_contact(rt, conn, cid)
        if path == "batch":
            rescore_all(rt)
        assert _crossed(rt) == expected, (types, later)
        assert all(
            e.contact_id == cid and e.score_group == "main" for e in rt.bus.published if isinstance(e, ScoreCrossed)
        )
        temperatures += [(e.old, e.new) for e in rt.bus.published if isinstance(e, TemperatureChanged)]
    assert temperatures == [("cold", "warm"), ("warm", "hot"), ("hot", "warm")]
