"""The stage funnel on every engine against hand-computed counts (see conftest.py for the world)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from funnelbridge.analytics.periods import parse_period
from funnelbridge.analytics.report import FunnelReport
from funnelbridge.analytics.stages import Basis, Order, StageFunnelSpec, stage_funnel
from funnelbridge.analytics.tables import Context, Dimension

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 4, 1, tzinfo=UTC)
STAGES = ("visitor", "lead", "mal", "mql", "sal", "sql", "opportunity", "customer", "evangelist")


def counts(group: object) -> list[int]:
    return [c.reached for c in group.counts]  # type: ignore[attr-defined]


def test_january_cohort_counts_skippers_as_passed(ctx: Context) -> None:
    funnel = stage_funnel(ctx, parse_period("2026-01", BERLIN, NOW))
    assert funnel.stages == STAGES
    assert funnel.total.journeys == 4
    assert counts(funnel.total) == [4, 4, 4, 4, 3, 2, 2, 1, 0]
    assert funnel.total.conversion("mql", "sql") == pytest.approx(0.5)
    sql = funnel.total.counts[5]
    assert sql.step_conversion == pytest.approx(2 / 3) and sql.cumulative_conversion == pytest.approx(0.5)


def test_strict_order_drops_skippers_from_the_skipped_stage_on(ctx: Context) -> None:
    funnel = stage_funnel(ctx, parse_period("2026-01", BERLIN, NOW), StageFunnelSpec(order=Order.STRICT))
    assert counts(funnel.total) == [4, 4, 3, 3, 3, 2, 2, 1, 0]


def test_all_time_counts_a_recycled_lead_once_per_journey(report: FunnelReport) -> None:
    funnel = report.funnel
    assert funnel.total.journeys == 8
    assert counts(funnel.total) == [8, 7, 6, 5, 4, 3, 2, 1, 0]


def test_period_basis_uses_local_month_and_half_open_end(ctx: Context) -> None:
    # February in Berlin: c3 (23:30 UTC on 31 Jan) is in, c6 (exactly 23:00 UTC on 28 Feb) is out; c1 became a
    # customer in February; c7's recycle is a detour, not a stage.
    funnel = stage_funnel(ctx, parse_period("2026-02", BERLIN, NOW), StageFunnelSpec(basis=Basis.PERIOD))
    assert counts(funnel.total) == [2, 1, 1, 0, 0, 0, 0, 1, 0]
    assert funnel.total.journeys == 3


def test_monthly_cohorts_in_the_playbook_zone(report: FunnelReport) -> None:
    funnel = report.cohorts
    assert funnel is not None
    sizes = {g.cohort: g.journeys for g in funnel.groups}
    assert sizes == {"2026-01": 4, "2026-02": 2, "2026-03": 2}
    january = next(g for g in funnel.groups if g.cohort == "2026-01")
    assert january.maturity_days is not None and january.maturity_days > 60


def test_split_by_source(report: FunnelReport) -> None:
    funnel = report.split
    assert funnel is not None
    by = {g.segment: counts(g) for g in funnel.groups}
    assert by["google"] == [3, 3, 2, 1, 1, 1, 1, 1, 0]
    assert by["linkedin"] == [3, 3, 3, 3, 2, 1, 0, 0, 0]
    assert by["bing"] == [1, 1, 1, 1, 1, 1, 1, 0, 0]
    assert by["(none)"] == [1, 0, 0, 0, 0, 0, 0, 0, 0]


DIMENSIONS = {
    Dimension.SEGMENT: {"enterprise (1000+)": 4, "smb (<50)": 2, "(none)": 2},
    Dimension.INDUSTRY: {"software": 4, "retail": 2, "(none)": 2},
    Dimension.COUNTRY: {"DE": 4, "FR": 2, "(none)": 2},
    Dimension.OWNER: {"Ann": 2, "Bob": 3, "(none)": 3},
    Dimension.GRADE: {"A": 3, "B": 3, "C": 1, "(none)": 1},
}


def test_other_dimensions(ctx: Context) -> None:
    for dim, expected in DIMENSIONS.items():
        funnel = stage_funnel(ctx, parse_period(None, BERLIN, NOW), StageFunnelSpec(by=dim))
        assert {g.segment: g.journeys for g in funnel.groups} == expected, dim
