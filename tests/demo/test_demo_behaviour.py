"""What simulated people do per day: determinism, shape of the events, and who converts."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime

import numpy as np
import pytest

from funnelbridge.demo import catalog as cat
from funnelbridge.demo.behaviour import new_crowd, pid_from_email, simulate_day
from funnelbridge.demo.sales import deal_plan, discovery, triage
from funnelbridge.demo.world import World, WorldShape, build_world, email_of

START = date(2026, 1, 5)
LOSS_REASONS = ("price", "competitor", "no_decision", "timing", "product_gap")


def _run(world: World, days: int):  # type: ignore[no-untyped-def]
    crowd = new_crowd(world.n_people)
    events: Counter[tuple[str, str | None]] = Counter()
    arrivals: Counter[str] = Counter()
    for day in range(days):
        activity = simulate_day(world, crowd, day, START)
        for p in activity.payloads:
            events[(p["type"], p.get("event") or p.get("properties", {}).get("form"))] += 1
        arrivals.update(activity.arrivals_by_campaign)
    return crowd, events, arrivals


@pytest.fixture(scope="module")
def simulated():  # type: ignore[no-untyped-def]
    world = build_world(WorldShape(people=8000, days=90, seed=5))
    return (world, *_run(world, 90))


def test_same_seed_same_payloads() -> None:
    world = build_world(WorldShape(300, 20, 9))
    a = [simulate_day(world, new_crowd(300), d, START).payloads for d in range(3)]
    b = [simulate_day(world, new_crowd(300), d, START).payloads for d in range(3)]
    assert a == b


def test_payloads_are_ordered_keyed_and_on_their_day() -> None:
    world = build_world(WorldShape(500, 10, 2))
    crowd = new_crowd(500)
    keys: set[str] = set()
    total = 0
    for day in range(10):
        payloads = simulate_day(world, crowd, day, START).payloads
        stamps = [datetime.fromisoformat(p["timestamp"]) for p in payloads]
        assert stamps == sorted(stamps)
        assert all(s.utcoffset() is not None for s in stamps)
        assert all((s.date() - START).days in (day, day + 1) for s in stamps)
        keys.update(p["idempotency_key"] for p in payloads)
        total += len(payloads)
        assert all(p["type"] in {"page", "form", "track", "email"} for p in payloads)
    assert len(keys) == total


def test_every_kind_of_event_and_every_campaign_occurs(simulated) -> None:  # type: ignore[no-untyped-def]
    _, _, events, arrivals = simulated
    wanted = {
        ("page", None),
        ("form", "asset_download"),
        ("form", "demo_request"),
        ("form", "webinar_registered"),
        ("form", "event_booth_scan"),
        ("track", "asset_download"),
        ("track", "demo_request"),
        ("track", "webinar_attended"),
        ("email", "email_open"),
        ("email", "email_click"),
        ("email", "unsubscribe"),
        ("email", "email_bounce"),
    }
    assert wanted <= set(events)
    assert set(arrivals) == {c.key for c in cat.CAMPAIGNS}


def test_interested_and_buying_people_convert_more(simulated) -> None:  # type: ignore[no-untyped-def]
    world, crowd, _, _ = simulated
    hot = world.interest >= np.quantile(world.interest, 0.8)
    cold = world.interest <= np.quantile(world.interest, 0.2)
    assert crowd.identified[hot].mean() > 1.5 * crowd.identified[cold].mean()
    assert crowd.hand_raised[world.in_market].mean() > 5 * crowd.hand_raised[~world.in_market].mean()
    assert 0.1 < crowd.identified.mean() < 0.8


def test_pid_round_trips_through_the_email() -> None:
    world = build_world(WorldShape(200, 5, 1))
    assert all(pid_from_email(email_of(world, pid)) == pid for pid in range(200))
    assert pid_from_email("someone@example.com") is None


def test_reps_accept_good_fit_and_deals_win_with_propensity() -> None:
    world = build_world(WorldShape(20_000, 60, 3))
    r = random.Random(1)
    good = np.flatnonzero((world.fit > 0.75) & (world.kind == 0))[:400].tolist()
    bad = np.flatnonzero((world.fit < 0.3) & (world.kind == 0))[:400].tolist()

    def accepted(pids: list[int]) -> float:
        return sum(triage(world, p, 30, r).action == "accept" for p in pids) / len(pids)

    assert accepted(good) > accepted(bad) + 0.4
    hi = np.flatnonzero(world.propensity > 0.5)[:300].tolist()
    lo = np.flatnonzero(world.propensity < 0.05)[:300].tolist()

    def wins(pids: list[int]) -> float:
        return sum(deal_plan(world, p, 30, r).won for p in pids) / len(pids)

    assert wins(hi) > wins(lo) + 0.2
    plan = deal_plan(world, lo[0], 30, r)
    assert plan.amount >= 2500 and (plan.won or plan.loss_reason in LOSS_REASONS)
    q = [discovery(world, p, int(world.market_start[p]) + 1, r) for p in np.flatnonzero(world.in_market)[:200]]
    assert sum(x.qualified for x in q) > 100
    assert all(set(x.bant or {}) in ({"budget", "authority", "need", "timeline"}, set()) for x in q)
