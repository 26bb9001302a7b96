"""Report pages: the funnel overview, campaign economics and the handoff scorecard."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from funnelbridge.analytics.report import economics_report, funnel_report, handoff_report
from funnelbridge.analytics.tables import Dimension
from funnelbridge.errors import InputError
from funnelbridge.web.app import flash, render
from funnelbridge.web.charts import FunnelBar, bar_chart_svg, funnel_svg
from funnelbridge.web.deps import WebUser, web_user

__all__ = ["PERIODS", "router"]

router = APIRouter(include_in_schema=False)
User = Annotated[WebUser, Depends(web_user)]

PERIODS = (
    ("all", "All time"),
    ("this-month", "This month"),
    ("last-30d", "Last 30 days"),
    ("this-quarter", "This quarter"),
    ("last-quarter", "Last quarter"),
    ("this-year", "This year"),
)


def _engine(request: Request) -> str:
    engine = request.app.state.settings.engine
    return engine if engine in ("store", "duckdb", "sqlite", "postgres") else "store"


def _owners(request: Request, report: Any) -> dict[str, str]:
    pipe = request.app.state.rt.playbook.pipelines[report.pipeline]
    return {s.id: s.owner.value for s in pipe.stages}


def _bars(report: Any, owners: dict[str, str]) -> list[FunnelBar]:
    titles = report.stage_titles
    return [
        FunnelBar(c.stage, titles.get(c.stage, c.stage), c.reached, c.step_conversion, owners.get(c.stage, "other"))
        for c in report.funnel.total.counts
    ]


@router.get("/")
def funnel_page(request: Request, _user: User, period: str = "all", by: str = "") -> Response:
    rt = request.app.state.rt
    try:
        report = funnel_report(rt, rt.playbook, period=period, by=by or None, engine=_engine(request))
    except InputError as exc:
        flash(request, str(exc), "error")
        report = funnel_report(rt, rt.playbook, engine=_engine(request))
        period, by = "all", ""
    gaps = {g.to_stage: g for g in report.velocity.gaps}
    owners = _owners(request, report)
    return render(
        request,
        "funnel.html",
        report=report,
        chart=funnel_svg(_bars(report, owners), report.handoff_stage),
        gaps=gaps,
        owners=owners,
        periods=PERIODS,
        period=period,
        by=by,
        dimensions=[d.value for d in Dimension],
    )


@router.get("/campaigns")
def campaigns_page(request: Request, _user: User, period: str = "all") -> Response:
    rt = request.app.state.rt
    money = economics_report(rt, rt.playbook, period=period, engine=_engine(request))
    rows = [c for c in money.campaigns if c.cost or c.leads]
    chart = bar_chart_svg([c.key for c in rows], [c.cost_per_lead or 0 for c in rows], "Cost per lead by campaign")
    return render(request, "campaigns.html", money=money, rows=rows, chart=chart, periods=PERIODS, period=period)


@router.get("/handoff")
def handoff_page(request: Request, _user: User, period: str = "all") -> Response:
    rt = request.app.state.rt
    card = handoff_report(rt, rt.playbook, period=period, engine=_engine(request))
    reasons = card.rejection_reasons
    chart = bar_chart_svg([r.reason for r in reasons], [r.count for r in reasons], "Rejection reasons")
    return render(request, "handoff.html", card=card, chart=chart, periods=PERIODS, period=period)
