"""Economics on every engine against hand-computed figures (see conftest.py)."""

from __future__ import annotations

import pytest

from funnelbridge.analytics.report import FunnelReport


def test_cost_per_stage_by_campaign(report: FunnelReport) -> None:
    eco = report.economics
    rows = {r.key: r for r in eco.campaigns}
    search, li, bing = rows["search_q1"], rows["li_q1"], rows["bing_q1"]
    assert (search.cost, search.leads, search.mqls, search.sqls, search.customers) == (600, 2, 1, 1, 1)
    assert search.cost_per_lead == pytest.approx(300) and search.cac == pytest.approx(600)
    assert (li.leads, li.mqls, li.sqls, li.customers, li.cac) == (2, 2, 1, 0, None)
    assert li.cost_per_lead == pytest.approx(500) and bing.cost_per_sql == pytest.approx(400)
    assert rows["(none)"].leads == 1 and rows["(none)"].cost == 0


def test_first_and_last_touch_revenue_and_roi(report: FunnelReport) -> None:
    eco = report.economics
    rows = {r.key: r for r in eco.campaigns}
    assert rows["search_q1"].revenue_first_touch == 10000 and rows["search_q1"].revenue_last_touch == 0
    assert rows["search_q1"].roi_first_touch == pytest.approx(9400 / 600)
    assert rows["li_q1"].roi_last_touch == pytest.approx(9.0) and rows["li_q1"].roi_first_touch == pytest.approx(-1)


def test_channels_roll_up_campaigns(report: FunnelReport) -> None:
    eco = report.economics
    rows = {r.key: r for r in eco.channels}
    paid = rows["paid_search"]
    assert (paid.cost, paid.leads, paid.mqls, paid.sqls, paid.customers) == (1000, 3, 2, 2, 1)
    assert paid.cac == pytest.approx(1000)
    assert eco.total.cost == 2000 and eco.total.leads == 6


def test_clv_pipeline_and_forecast(report: FunnelReport) -> None:
    eco = report.economics
    assert eco.clv == pytest.approx(10000) and eco.customers_to_date == 1
    assert (eco.pipeline_value, eco.weighted_pipeline, eco.open_deals) == (5000, 3000, 1)
    assert eco.forecast.quarter == "2026-Q2"
    assert (eco.forecast.won_to_date, eco.forecast.forecast, eco.forecast.best_case) == (0, 3000, 5000)
