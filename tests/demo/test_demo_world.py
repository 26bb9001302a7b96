"""The seeded market: determinism and statistical shape of the hidden truth."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funnelbridge.demo import catalog as cat
from funnelbridge.demo.world import Kind, WorldShape, build_world, email_of, propensity_of, traits_of


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return build_world(WorldShape(people=20_000, days=120, seed=11))


def test_same_seed_same_world() -> None:
    a, b = (build_world(WorldShape(500, 30, 3)) for _ in range(2))
    for name in ("fit", "interest", "propensity", "arrival", "account", "acc_employees", "kind", "campaign"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    c = build_world(WorldShape(500, 30, 4))
    assert not np.array_equal(a.fit, c.fit)


def test_most_of_the_market_is_not_buying(world) -> None:  # type: ignore[no-untyped-def]
    share = float(world.in_market.mean())
    assert 0.01 < share < 0.08


def test_good_fit_has_higher_propensity(world) -> None:  # type: ignore[no-untyped-def]
    good, bad = world.fit >= 0.7, world.fit < 0.4
    assert world.propensity[good].mean() > 3 * world.propensity[bad].mean()


def test_in_market_is_more_likely_for_good_fit_accounts(world) -> None:  # type: ignore[no-untyped-def]
    good = world.acc_fit >= np.quantile(world.acc_fit, 0.75)
    bad = world.acc_fit <= np.quantile(world.acc_fit, 0.25)
    assert world.acc_in_market[good].mean() > world.acc_in_market[bad].mean()


def test_every_kind_and_campaign_is_present(world) -> None:  # type: ignore[no-untyped-def]
    assert set(np.unique(world.kind).tolist()) == set(range(len(Kind.NAMES)))
    assert set(np.unique(world.campaign).tolist()) == set(range(len(cat.CAMPAIGNS)))
    assert {c.channel for c in cat.CAMPAIGNS} >= {
        "paid_search",
        "linkedin_ads",
        "webinar",
        "organic",
        "events",
        "referral",
    }


def test_arrivals_are_sorted_and_in_range(world) -> None:  # type: ignore[no-untyped-def]
    assert np.all(np.diff(world.arrival) >= 0)
    assert world.arrival.min() >= 0 and world.arrival.max() < 120
    assert world.arrived_by(119) == world.n_people


def test_emails_and_traits_by_kind(world) -> None:  # type: ignore[no-untyped-def]
    for kind, check in (
        (Kind.FREE_MAIL, lambda e: e.split("@")[1] in cat.FREE_MAIL_DOMAINS),
        (Kind.STUDENT, lambda e: e.endswith(".edu")),
        (Kind.COMPETITOR, lambda e: e.split("@")[1] in cat.COMPETITOR_DOMAINS),
    ):
        pid = int(np.flatnonzero(world.kind == kind)[0])
        assert check(email_of(world, pid))
    pid = int(np.flatnonzero(world.kind == Kind.BUSINESS)[0])
    traits = traits_of(world, pid)
    assert traits["domain"] == email_of(world, pid).split("@")[1]
    assert {"industry", "employees", "country", "technologies", "title", "seniority"} <= set(traits)
    assert traits_of(world, int(np.flatnonzero(world.kind == Kind.STUDENT)[0]))["seniority"] == "student"


@settings(max_examples=50, deadline=None)
@given(
    st.floats(0, 1, width=32),
    st.floats(0, 1, width=32),
    st.booleans(),
    st.floats(0, 0.5, width=32),
)
def test_propensity_is_bounded_and_monotone(fit: float, interest: float, buying: bool, bump: float) -> None:
    def p(f: float, i: float, m: bool) -> float:
        arr = np.asarray([f], dtype=np.float32), np.asarray([i], dtype=np.float32), np.asarray([m])
        return float(propensity_of(*arr)[0])

    base = p(fit, interest, buying)
    assert 0.0 < base < 1.0
    assert p(min(1.0, fit + bump), interest, buying) >= base
    assert p(fit, min(1.0, interest + bump), buying) >= base
    assert p(fit, interest, True) >= p(fit, interest, False)
