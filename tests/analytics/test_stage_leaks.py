"""Leaks, significance and drivers on every engine against hand-computed figures (see conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from funnelbridge.analytics.leaks import _compare, _odds, leaks, step_drivers
from funnelbridge.analytics.periods import Period, parse_period
from funnelbridge.analytics.report import FunnelReport
from funnelbridge.analytics.tables import Context


def test_losses_and_reasons_per_step(report: FunnelReport) -> None:
    leak = report.leaks
    mql = leak.step("mql", "sal")
    assert (mql.reached_from, mql.reached_to, mql.lost) == (5, 4, 1)
    assert [(r.reason, r.count) for r in mql.reasons] == [("not_a_fit", 1)]
    won = leak.step("opportunity", "customer")
    assert [(r.reason, r.count) for r in won.reasons] == [("price", 1)]
    assert leak.flagged == ()  # small numbers never cry wolf
    assert all(c.direction == "too few" for c in mql.segments)


def test_trailing_baseline_uses_the_same_horizon(ctx: Context) -> None:
    march = parse_period("2026-03", ZoneInfo("Europe/Berlin"), datetime(2026, 4, 1, tzinfo=UTC))
    report = leaks(ctx, march, min_sample=1, min_count=1)
    step = report.step("visitor", "lead")
    assert step.baseline is not None
    assert (step.baseline.n, step.baseline.reference_n) == (2, 6)
    assert step.baseline.reference_conversion == pytest.approx(5 / 6)
    assert step.baseline.p_value == pytest.approx(1.0) and not step.baseline.significant


def test_drivers_have_counts_and_haldane_odds_ratios(ctx: Context) -> None:
    drivers = {d.name: d for d in step_drivers(ctx, Period("all time"), "mql", "sal", min_count=1, top=50)}
    linkedin = drivers["source=linkedin"]
    assert (linkedin.converted_with, linkedin.dropped_with, linkedin.converted_total, linkedin.dropped_total) == (
        2, 1, 4, 1,
    )  # fmt: skip
    assert linkedin.odds_ratio == pytest.approx(1 / 3, abs=1e-4) and linkedin.over_represented_in == "dropped"
    demo = drivers["did demo_request"]
    assert (demo.converted_with, demo.dropped_with, demo.odds_ratio) == (2, 0, pytest.approx(3.0))


def test_a_large_clear_drop_is_flagged() -> None:
    c = _compare("paid", 20, 200, 100, 200, min_sample=30)
    assert c.direction == "worse" and c.p_value is not None and c.p_value < 1e-6


@given(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50), st.integers(0, 50))
def test_odds_ratio_is_finite_positive_and_symmetric(a: int, c: int, b: int, d: int) -> None:
    one = _odds("event", "x", a, c, a + b, c + d)
    flipped = _odds("event", "x", b, d, a + b, c + d)
    assert one.odds_ratio > 0 and 0 <= one.p_value <= 1
    assert one.odds_ratio * flipped.odds_ratio == pytest.approx(1.0, rel=1e-3)
