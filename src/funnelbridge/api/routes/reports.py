"""Analytics as JSON: the whole funnel report and each of its parts, on the engine of your choice."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from funnelbridge.analytics import report as reports
from funnelbridge.api.auth import Permission, Principal, require
from funnelbridge.api.encode import to_json

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/reports", tags=["analytics"])

Reader = Annotated[Principal, Depends(require(Permission.READ))]
Period = Annotated[
    str | None,
    Query(
        description="2026, 2026-Q1, 2026-03, 2026-W09, 2026-01-01..2026-03-31, "
        "last-30d, this-month, last-quarter or all"
    ),
]
Engine = Annotated[
    str, Query(pattern="^(store|duckdb)$", description="store (the store's own database) or duckdb (loads the store)")
]


def _source(request: Request) -> tuple[Any, Any]:
    rt = request.app.state.rt
    return rt, rt.playbook


@router.get("/funnel")
def funnel(
    request: Request,
    _who: Reader,
    period: Period = None,
    by: Annotated[
        str | None, Query(description="source, medium, campaign, segment, industry, country, owner, team or grade")
    ] = None,
    cohort: Annotated[str | None, Query(pattern="^(week|month|quarter)$")] = "month",
    order: Annotated[str, Query(pattern="^(any|strict)$")] = "any",
    engine: Engine = "store",
) -> dict[str, Any]:
    """The whole stage-funnel report: volumes, conversion, cohorts, split, velocity, leaks, economics, handoff."""
    rt, pb = _source(request)
    result = reports.funnel_report(rt, pb, period=period, by=by, engine=engine, cohort=cohort, order=order)
    return result.to_dict()


@router.get("/velocity")
def velocity(request: Request, _who: Reader, period: Period = None, engine: Engine = "store") -> Any:
    """Time between stages (median, p25/p75, p90), time in current stage and stalled leads."""
    return to_json(reports.velocity_report(*_source(request), period=period, engine=engine).to_dict())


@router.get("/leaks")
def leaks(
    request: Request, _who: Reader, period: Period = None, by: str | None = None, engine: Engine = "store"
) -> Any:
    """Where the funnel loses most, with significance tests, reasons and drivers."""
    return to_json(reports.leak_report(*_source(request), period=period, by=by, engine=engine).to_dict())


@router.get("/economics")
def economics(request: Request, _who: Reader, period: Period = None, engine: Engine = "store") -> Any:
    """CPL, cost per MQL/SQL, CAC, ROI per campaign and channel, CLV, pipeline and forecast."""
    return to_json(reports.economics_report(*_source(request), period=period, engine=engine).to_dict())


@router.get("/handoff")
def handoff(request: Request, _who: Reader, period: Period = None, engine: Engine = "store") -> Any:
    """Acceptance rate, rejection reasons, time to accept / first touch, SLA breaches per rep and week."""
    return to_json(reports.handoff_report(*_source(request), period=period, engine=engine).to_dict())
