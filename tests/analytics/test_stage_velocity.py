"""Velocity on every engine against hand-computed durations (see conftest.py)."""

from __future__ import annotations

import pytest

from funnelbridge.analytics.report import FunnelReport

DAY = 86_400.0


def test_time_between_stages(report: FunnelReport) -> None:
    v = report.velocity
    accept = v.gap("mql", "sal").days
    assert accept.n == 4
    assert accept.median == pytest.approx(1.0)
    assert accept.p90 == pytest.approx(round(91440 / DAY, 2))
    qualify = v.gap("sal", "sql").days
    assert qualify.n == 3
    assert (qualify.p25, qualify.median, qualify.p75) == pytest.approx((2.0, 3.0, round(298800 / DAY, 2)))
    # c2 skipped MAL: it has no lead -> MAL or MAL -> MQL time of its own.
    assert v.gap("lead", "mal").days.n == 4
    assert v.gap("mal", "mql").days.n == 3


def test_time_in_current_stage_and_stalled(report: FunnelReport) -> None:
    v = report.velocity
    dwell = {d.stage: d for d in v.dwell}
    assert dwell["sal"].current == 1 and dwell["sal"].stalled == 1 and dwell["sal"].stall_limit_days == 21
    assert dwell["sql"].current == 1 and dwell["sql"].stalled == 0
    assert dwell["recycled"].current == 1
    assert dwell["customer"].current == 1
    assert v.stalled_total == 1


def test_sales_cycle(report: FunnelReport) -> None:
    v = report.velocity
    assert v.deal_cycle_days.n == 1 and v.deal_cycle_days.median == pytest.approx(31.0)
    assert v.lead_to_customer_days.median == pytest.approx(46.0)
